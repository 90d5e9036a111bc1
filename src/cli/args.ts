/**
 * A small command-line parser with generated --help, shared by every
 * subcommand so flags behave the same everywhere: `--flag value`,
 * `--flag=value`, booleans, `--no-flag` for negatable ones, positionals.
 */
import { InvalidArgumentError } from '../errors.js';
import { parseHostPortSpec } from '../comm/address.js';

export interface Flag {
  name: string;
  type: 'string' | 'boolean';
  help: string;
  metavar?: string;
  default?: string | boolean;
  /** Accept --no-NAME to set false. */
  negatable?: boolean;
  short?: string;
}

export interface CommandSpec {
  usage: string;
  description: string;
  flags: Flag[];
  /** Extra text after the flag list (examples). */
  epilog?: string;
}

export type ParsedFlags = Record<string, string | boolean | undefined>;

export function formatHelp(spec: CommandSpec): string {
  const rows = spec.flags.map((f) => {
    const left = f.type === 'boolean'
      ? (f.negatable ? `--${f.name}/--no-${f.name}` : `--${f.name}`)
      : `--${f.name} ${f.metavar ?? 'VALUE'}`;
    const short = f.short ? `-${f.short}, ` : '';
    const def = f.default !== undefined ? ` (default: ${String(f.default)})` : '';
    return [`  ${short}${left}`, `${f.help}${def}`] as const;
  });
  rows.push(['  -h, --help', 'show this help and exit']);
  const width = Math.min(40, Math.max(...rows.map((r) => r[0].length)) + 2);
  const lines = rows.map(([l, r]) => (l.length + 2 > width ? `${l}\n${' '.repeat(width)}${r}` : `${l.padEnd(width)}${r}`));
  return `Usage: ${spec.usage}\n\n${spec.description}\n\nOptions:\n${lines.join('\n')}${spec.epilog ? `\n\n${spec.epilog}` : ''}\n`;
}

/** Returns null when --help was asked for (the help is printed). */
export function parseFlags(argv: string[], spec: CommandSpec): { flags: ParsedFlags; positionals: string[] } | null {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const flags: ParsedFlags = {};
  for (const f of spec.flags) if (f.default !== undefined) flags[f.name] = f.default;
  const positionals: string[] = [];
  const unknown = (arg: string): never => {
    throw new InvalidArgumentError(`unknown option '${arg}'; run with --help to see the options`);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(formatHelp(spec));
      return null;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else {
      const f = byShort.get(arg.slice(1));
      if (!f) unknown(arg);
      name = f!.name;
    }
    let flag = byName.get(name);
    if (!flag && name.startsWith('no-')) {
      const base = byName.get(name.slice(3));
      if (base?.negatable) {
        flags[base.name] = false;
        continue;
      }
    }
    if (!flag) flag = unknown(arg);
    if (flag.type === 'boolean') {
      if (inline !== undefined) {
        if (!/^(true|false|1|0)$/.test(inline)) throw new InvalidArgumentError(`option --${name} takes no value or true/false, got '${inline}'`);
        flags[flag.name] = inline === 'true' || inline === '1';
      } else flags[flag.name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new InvalidArgumentError(`option --${name} needs a value (${flag.metavar ?? 'VALUE'})`);
    flags[flag.name] = value;
  }
  return { flags, positionals };
}

/** An integer flag within [min, max] (default: any non-negative integer); undefined when absent. */
export function intFlag(flags: ParsedFlags, name: string, range: { min?: number; max?: number } = {}): number | undefined {
  const v = flags[name];
  if (v === undefined || v === false) return undefined;
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`--${name} must be an integer ${max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `of at least ${min}`}, got '${String(v)}'`);
  }
  return n;
}

/** A TCP port flag: 0 (any free port) to 65535. */
export function portFlag(flags: ParsedFlags, name: string): number | undefined {
  return intFlag(flags, name, { min: 0, max: 65535 });
}

/** A listen-address flag such as ':8787', ':0' or 'HOST:PORT', checked before anything starts. */
export function addressFlag(flags: ParsedFlags, name: string): string | undefined {
  const v = strFlag(flags, name);
  if (v === undefined) return undefined;
  try {
    parseHostPortSpec(v);
  } catch {
    throw new InvalidArgumentError(`--${name} '${v}' is not an address: use ':PORT' (every interface), ':0' (any free port) or 'HOST:PORT', with a port from 0 to 65535`);
  }
  return v;
}

export function strFlag(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
export function onTerminationSignal(fn: (signal: string) => void): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => fn(sig));
}
