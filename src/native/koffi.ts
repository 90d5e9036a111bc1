/**
 * koffi, the FFI Tessera calls native libraries through (libmpi, libc).
 * Loaded on first use only: a native addon costs ~20 ms to load, and most
 * processes (a client, a LocalCluster worker) never need it.
 */
import { createRequire } from 'node:module';

type Koffi = typeof import('koffi').default;
let koffiModule: Koffi | undefined;

export function koffi(): Koffi {
  if (!koffiModule) {
    const require = createRequire(import.meta.url);
    koffiModule = require('koffi') as Koffi;
  }
  return koffiModule;
}
