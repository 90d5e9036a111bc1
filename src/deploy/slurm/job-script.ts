/**
 * The batch script a SlurmCluster submits for each worker, with
 * dask-jobqueue's SLURMCluster options (camelCase). Pure: the same text is
 * printed by `tessera-compute slurm job-script`.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMemoryLimit } from '../../worker/memory.js';
import { resolveWorkerOptions } from '../../worker/options.js';
import { InvalidArgumentError } from '../../errors.js';
import { cliEntryUrl } from '../../layout.js';

export interface JobScriptOptions {
  /** Partition (`#SBATCH -p`). */
  queue?: string;
  /** Account to charge (`#SBATCH -A`). */
  account?: string;
  /** Cores per job: `--cpus-per-task` and the worker's threads (default 1). */
  cores?: number;
  /** Memory per job, e.g. '4GB': `--mem` and the worker's memory limit (default: none asked, 'auto' for the worker). */
  memory?: string | number;
  /** Walltime: minutes, 'MM:SS', 'HH:MM:SS', 'D-HH[:MM[:SS]]' (default '00:30:00'). */
  walltime?: string | number;
  /** Job name (`#SBATCH -J`) and worker name prefix (default 'tessera-worker'). */
  jobName?: string;
  /** Directory for the jobs' stdout/stderr (`-o`/`-e`, one file per job). Default: Slurm's (slurm-%j.out in the submit directory). */
  logDirectory?: string;
  /** More `#SBATCH` lines, with or without the '#SBATCH ' prefix, e.g. ['--exclusive', '--gres=gpu:1']. */
  jobExtraDirectives?: string[];
  /** Leave out generated directives containing any of these strings, e.g. ['--mem'] where memory may not be requested. */
  jobDirectivesSkip?: string[];
  /** Shell lines before the worker starts: `module load nodejs`, `source env.sh`, ... */
  jobScriptPrologue?: string[];
  /** Node.js on the compute nodes (default: the node running this process). */
  nodeExecutable?: string;
  /**
   * The `tessera-compute` command: a .js/.mjs entry point run with nodeExecutable (default: this package's
   * compiled CLI), an executable such as 'tessera-compute' on the compute nodes' PATH, or a shell command
   * prefix with spaces, kept as written (e.g. 'apptainer exec --bind $HOME tessera.sif tessera-compute').
   */
  tesseraCommand?: string;
  /** The scheduler file the workers read (address and token; on a shared file system). */
  schedulerFile?: string;
  /** Network interface the workers advertise (e.g. 'ib0'). */
  interface?: string;
  /** Where workers spill to disk, e.g. '$TMPDIR' (expanded on the node). */
  localDirectory?: string;
  /** Seconds before the walltime at which a worker retires (default: 10% of the walltime, between 30 s and 5 min). */
  lifetimeMargin?: number;
  /** Explicit worker lifetime in seconds, overriding walltime minus margin. */
  lifetime?: number;
  /** Worker exits when the scheduler is unreachable this long (seconds, default 60). */
  deathTimeout?: number;
  /** More arguments for `tessera-compute worker`. */
  workerExtraArgs?: string[];
  /** First line (default '#!/usr/bin/env bash'). */
  shebang?: string;
}

export const DEFAULT_JOB_NAME = 'tessera-worker';
export const DEFAULT_WALLTIME = '00:30:00';

/** This package's CLI, next to the code that is running (the compiled sources or the bundle). */
export function defaultTesseraCommand(): string {
  return fileURLToPath(cliEntryUrl());
}

export function defaultSchedulerFile(id = 'scheduler'): string {
  return join(homedir(), '.tessera', 'slurm', `${id}.json`);
}

/** Slurm's time formats to seconds. */
export function parseWalltime(w: string | number): number {
  if (typeof w === 'number') {
    if (!(w > 0)) throw new InvalidArgumentError(`walltime must be positive minutes, got ${w}`);
    return Math.round(w * 60);
  }
  const s = w.trim();
  let m = /^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(s);
  if (m) return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  m = /^(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(s);
  if (m) {
    if (m[3] !== undefined) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
    if (m[2] !== undefined) return Number(m[1]) * 60 + Number(m[2]);
    return Number(m[1]) * 60;
  }
  throw new InvalidArgumentError(`invalid walltime '${w}': use minutes, MM:SS, HH:MM:SS or D-HH:MM:SS`);
}

export function formatWalltime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const hms = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return d ? `${d}-${hms}` : hms;
}

/** The worker lifetime for a walltime: leave time to retire and hand data off before Slurm's SIGTERM. */
export function workerLifetime(opts: Pick<JobScriptOptions, 'walltime' | 'lifetime' | 'lifetimeMargin'>): number {
  if (opts.lifetime !== undefined) return opts.lifetime;
  const wall = parseWalltime(opts.walltime ?? DEFAULT_WALLTIME);
  const margin = opts.lifetimeMargin ?? Math.min(300, Math.max(30, Math.round(wall * 0.1)));
  return Math.max(1, wall - margin);
}

/** Quotes for bash unless the word is plainly safe; `$VAR` references are kept expandable. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  if (/^\$\{?\w+\}?$/.test(word)) return `"${word}"`;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export function jobScript(opts: JobScriptOptions = {}): string {
  // The worker's threads, checked as every layer checks them (the memory is parsed below, for --mem).
  const { nthreads: cores } = resolveWorkerOptions({ nthreads: opts.cores }, { nthreads: 'cores' });
  const name = opts.jobName ?? DEFAULT_JOB_NAME;
  if (!/^[\w.-]+$/.test(name)) throw new InvalidArgumentError(`jobName '${name}' may contain only letters, digits, '_', '.' and '-'`);
  const wall = parseWalltime(opts.walltime ?? DEFAULT_WALLTIME);
  const memBytes = opts.memory !== undefined ? parseMemoryLimit(opts.memory) : undefined;
  const directives: string[] = [`-J ${name}`];
  if (opts.queue) directives.push(`-p ${opts.queue}`);
  if (opts.account) directives.push(`-A ${opts.account}`);
  directives.push('-n 1', `--cpus-per-task=${cores}`);
  if (memBytes) directives.push(`--mem=${Math.ceil(memBytes / 2 ** 20)}M`);
  directives.push(`-t ${formatWalltime(wall)}`);
  if (opts.logDirectory) directives.push(`-o ${join(opts.logDirectory, `${name}-%j.out`)}`, `-e ${join(opts.logDirectory, `${name}-%j.err`)}`);
  const skip = opts.jobDirectivesSkip ?? [];
  const kept = directives.filter((d) => !skip.some((s) => d.includes(s)));
  const extra = (opts.jobExtraDirectives ?? []).map((d) => d.replace(/^#SBATCH\s+/, ''));

  const tessera = opts.tesseraCommand ?? defaultTesseraCommand();
  // A .js entry runs with node; a command with spaces ('apptainer exec img.sif tessera') is a shell prefix, kept as written.
  const raw = /\s/.test(tessera.trim());
  const command = raw ? [] : /\.(m?js|cjs)$/.test(tessera) ? [opts.nodeExecutable ?? process.execPath, tessera] : [tessera];
  const args = [
    'worker',
    '--scheduler-file', opts.schedulerFile ?? defaultSchedulerFile(),
    '--name', `${name}-$SLURM_JOB_ID`,
    '--nthreads', String(cores),
    '--memory-limit', memBytes ? String(memBytes) : 'auto',
    '--lifetime', String(workerLifetime(opts)),
    '--death-timeout', String(opts.deathTimeout ?? 60),
  ];
  if (opts.interface) args.push('--interface', opts.interface);
  if (opts.localDirectory) args.push('--local-directory', opts.localDirectory);
  args.push(...(opts.workerExtraArgs ?? []));
  const quoted = [...command, ...args].map((a) => (a.includes('$SLURM_JOB_ID') ? `"${a}"` : shellQuote(a)));
  if (raw) quoted.unshift(tessera.trim());

  return [
    opts.shebang ?? '#!/usr/bin/env bash',
    '',
    ...[...kept, ...extra].map((d) => `#SBATCH ${d}`),
    '',
    ...(opts.jobScriptPrologue ?? []),
    // exec: Slurm's signals (scancel, walltime) reach the worker itself, not a waiting shell.
    `exec ${quoted.join(' ')}`,
    '',
  ].join('\n');
}
