/**
 * koffi, the FFI Tessera calls native libraries through (libmpi, libc).
 * Loaded on first use only: a native addon costs ~20 ms to load, and most
 * processes (a client, a LocalCluster worker) never need it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Koffi = typeof import('koffi').default;
let koffiModule: Koffi | undefined;
let loadedDirectly = false;

/**
 * koffi's own entry finds its prebuilt addon by reading the ELF header of
 * the node binary (glibc or musl?) and wraps a few deprecated functions:
 * about 8 ms of CPU per process, which every rank of an MPI job pays at once
 * on start-up. On glibc Linux the addon sits at a fixed place in koffi's
 * platform package, @koromix/koffi-linux-<arch>/linux_<arch>/koffi.node, so
 * load it from there when that is unambiguous. The package is found the way
 * Node finds packages, in the nearest node_modules above this file, without
 * Node's resolver (its first use costs ~3 ms). Anything unexpected (another
 * OS, a musl loader on the machine, the package nested elsewhere, an addon
 * whose version is not its package's) returns null, and koffi loads itself.
 */
function loadAddonDirectly(require: NodeJS.Require): Koffi | null {
  if (process.platform !== 'linux') return null;
  try {
    // With a musl loader present the binary might be either: koffi decides.
    if (readdirSync('/lib').some((f) => f.startsWith('ld-musl-'))) return null;
    const pkgDir = nearestPackage(join('@koromix', `koffi-linux-${process.arch}`));
    if (!pkgDir) return null;
    const addon = join(pkgDir, `linux_${process.arch}`, 'koffi.node');
    if (!existsSync(addon)) return null;
    const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
    const native = require(addon) as Koffi & { version?: string };
    return native.version === version ? native : null;
  } catch {
    return null;
  }
}

function nearestPackage(name: string): string | null {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

export function koffi(): Koffi {
  if (!koffiModule) {
    const require = createRequire(import.meta.url);
    const direct = loadAddonDirectly(require);
    loadedDirectly = direct !== null;
    koffiModule = direct ?? (require('koffi') as Koffi);
  }
  return koffiModule;
}

/** @internal Whether koffi() took the direct path (for tests: a koffi upgrade that moves the addon shows up there). */
export function koffiLoadedDirectly(): boolean {
  koffi();
  return loadedDirectly;
}
