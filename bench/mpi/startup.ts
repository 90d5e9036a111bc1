/**
 * How fast an MPI-launched cluster starts and ends: the time from launching
 * `mpirun -np N` to every worker connected (the client's initialize()
 * resolving, which waits for that), and the wall time of the whole trivial
 * job (bench/mpi/job.ts: initialize, one task, the script ends, every rank
 * exits). Also counts output lines other than the job's own and the one
 * dashboard line. Oversubscribed: -np 8 on a 2-core machine runs 8 Node
 * processes on 2 cores.
 *
 *   node dist/bench/mpi/startup.js [--runs 5] [--np 4,8] [--launcher mpirun|mpiexec.mpich]
 *
 * Start-up steps come from TESSERA_MPI_TRACE=1 lines (src/deploy/mpi/trace.ts).
 * The CPU column (launcher and all ranks, from GNU time) does not depend on
 * what else the machine runs; on a quiet machine with N cores the wall time
 * cannot go below CPU / N.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
function arg(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}
const RUNS = Math.max(1, Number(arg('runs', '5')));
const SIZES = arg('np', '4,8').split(',').map(Number);
const LAUNCHER = arg('launcher', 'mpirun');
const JOBS = {
  lazy: fileURLToPath(new URL('./job.js', import.meta.url)),
  static: fileURLToPath(new URL('./job-static.js', import.meta.url)),
};

interface Trace {
  rank: number;
  step: string;
  at: number;
}

interface Run {
  readyMs: number;
  wholeMs: number;
  /** CPU seconds of the launcher and every rank (user + system), from /usr/bin/time; NaN without it. */
  cpuS: number;
  steps: Record<string, number>;
  extraLines: string[];
  code: number | null;
}

/**
 * NODE_EXTRA_CA_CERTS makes every Node process parse that CA bundle as it
 * starts, before any of its own code runs (Node 20 reads it eagerly). Some
 * environments set it for every process (this project's machines point it at
 * the system bundle of ~140 certificates: ~80 ms of CPU per process, against
 * ~20 ms for the rest of Node's start). Tessera cannot opt out for the ranks
 * mpirun starts, and a user's tasks may need it, so the figures are taken
 * as the environment is, and, where it is set, also without it.
 */
const CA_ENV = 'NODE_EXTRA_CA_CERTS';

/** How a run differs from the environment as it is. */
interface Variant {
  withoutCa?: boolean;
  /** An empty compile cache (src/boot/bundle.ts): what the first run after installing or building the package pays. */
  coldCache?: boolean;
}

function launchArgs(np: number, job: string, variant: Variant, cacheDir: string | null): [string, string[], NodeJS.ProcessEnv] {
  const env: NodeJS.ProcessEnv = { ...process.env, TESSERA_MPI_TRACE: '1' };
  if (variant.withoutCa) delete env[CA_ENV];
  if (cacheDir) env.TESSERA_COMPILE_CACHE = cacheDir;
  if (LAUNCHER === 'mpiexec.mpich') {
    env.TESSERA_MPI_LIB ??= '/usr/lib/x86_64-linux-gnu/libmpich.so.12';
    return ['mpiexec.mpich', ['-n', String(np), process.execPath, job], env];
  }
  const root = process.getuid?.() === 0;
  if (root) Object.assign(env, { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' });
  env.OMPI_MCA_btl_vader_single_copy_mechanism ??= 'none';
  return ['mpirun', [...(root ? ['--allow-run-as-root'] : []), '--oversubscribe', '-np', String(np), process.execPath, job], env];
}

/** GNU time reports the CPU time of the launcher and everything it waited for: all ranks. */
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const CPU_MARK = 'TESSERA_BENCH_CPU';

async function once(np: number, job: string, variant: Variant = {}): Promise<Run> {
  if (!variant.coldCache) return onceIn(np, job, variant, null);
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-cache-'));
  try {
    return await onceIn(np, job, variant, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function onceIn(np: number, job: string, variant: Variant, cacheDir: string | null): Promise<Run> {
  const [launcher, launcherArgs, env] = launchArgs(np, job, variant, cacheDir);
  const [cmd, argv] = GNU_TIME ? [GNU_TIME, ['-f', `${CPU_MARK} %U %S`, launcher, ...launcherArgs]] : [launcher, launcherArgs];
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wholeMs = Date.now() - t0;
      const traces: Trace[] = [];
      const extraLines: string[] = [];
      let cpuS = NaN;
      for (const line of out.split('\n')) if (line.trim() && line.trim() !== 'answer 42') extraLines.push(line);
      for (const line of err.split('\n')) {
        if (line.startsWith('TESSERA_MPI_TRACE ')) traces.push(JSON.parse(line.slice(18)) as Trace);
        else if (line.startsWith(`${CPU_MARK} `)) cpuS = line.split(' ').slice(1).reduce((a, b) => a + Number(b), 0);
        else if (line.trim() && !line.startsWith('tessera-compute/mpi: dashboard at ')) extraLines.push(line);
      }
      if (!out.includes('answer 42')) extraLines.push('(the job did not print its answer)');
      const steps: Record<string, number> = {};
      for (const t of traces) steps[t.step] = Math.max(steps[t.step] ?? 0, t.at - t0);
      const ready = traces.find((t) => t.step === 'ready' && t.rank === 1);
      resolve({ readyMs: ready ? ready.at - t0 : NaN, wholeMs, cpuS, steps, extraLines, code });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');

function mpiVersion(): string {
  const r = spawnSync(LAUNCHER, ['--version'], { encoding: 'utf8' });
  const lines = (r.stdout || r.stderr || '').split('\n').map((l) => l.trim());
  // OpenMPI: "mpirun (Open MPI) 4.1.4"; MPICH's Hydra: "HYDRA build details:" then "Version: 4.0.2".
  const version = lines.find((l) => /Open MPI|^Version:/.test(l));
  return version ? `${LAUNCHER} ${version.replace(/^Version:\s*/, '')}` : LAUNCHER;
}

/** Median CPU ms of `node -e 0`, with the environment as it is and without NODE_EXTRA_CA_CERTS. */
function nodeStartCpu(): { as: number; without: number } | null {
  if (!GNU_TIME) return null;
  const sample = (env: NodeJS.ProcessEnv) => {
    const xs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = spawnSync(GNU_TIME, ['-f', '%U %S', process.execPath, '-e', '0'], { env, encoding: 'utf8' });
      xs.push(r.stderr.trim().split('\n').pop()!.split(' ').reduce((a, b) => a + Number(b), 0) * 1000);
    }
    return median(xs);
  };
  const without = { ...process.env };
  delete without[CA_ENV];
  return { as: sample(process.env), without: sample(without) };
}

/** One way of running the job; each is run RUNS times. */
interface Config {
  label: string;
  np: number;
  job: string;
  variant: Variant;
  /** Print this configuration's start-up steps. */
  steps: boolean;
}

async function main(): Promise<void> {
  console.log(`Tessera MPI start-up: ${mpiVersion()}, Node ${process.version}, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(2)}, ${RUNS} runs each (median, min)`);
  // Warm the page cache, OpenMPI's own files and the compile cache (src/boot/bundle.ts).
  await once(Math.min(...SIZES), JOBS.lazy);
  const caSet = process.env[CA_ENV] !== undefined;
  const configs: Config[] = [];
  for (const np of SIZES) {
    configs.push({ label: `-np ${np}, client imported after initialize()`, np, job: JOBS.lazy, variant: {}, steps: true });
    if (np === SIZES[0]) {
      configs.push({ label: `-np ${np}, everything imported at the top`, np, job: JOBS.static, variant: {}, steps: false });
      configs.push({ label: `-np ${np}, empty compile cache (first run after install)`, np, job: JOBS.lazy, variant: { coldCache: true }, steps: false });
    }
  }
  if (caSet) {
    const np = SIZES[0]!;
    configs.push({ label: `-np ${np}, client imported after initialize(), without ${CA_ENV}`, np, job: JOBS.lazy, variant: { withoutCa: true }, steps: false });
  }
  // Round-robin, so that the machine's drift (this VM's speed wanders by
  // +-15% from minute to minute) falls on every configuration alike.
  const runs = new Map<Config, Run[]>(configs.map((c) => [c, []]));
  for (let i = 0; i < RUNS; i++) {
    process.stderr.write(`round ${i + 1} of ${RUNS}\n`);
    for (const c of configs) runs.get(c)!.push(await once(c.np, c.job, c.variant));
  }
  const rows: string[][] = [];
  const stepRows: string[][] = [];
  const problems: string[] = [];
  for (const c of configs) {
    const all = runs.get(c)!;
    const ok = all.filter((r) => r.code === 0);
    for (const r of all) if (r.code !== 0) problems.push(`${c.label}: exit status ${r.code}`);
    // All of the first noisy run's output (to see what it was), a line of each later one.
    let shown = false;
    for (const r of all) {
      if (!r.extraLines.length) continue;
      for (const l of r.extraLines.slice(0, shown ? 1 : 40)) problems.push(`${c.label}: extra output: ${l}`);
      shown = true;
    }
    const ready = ok.map((r) => r.readyMs);
    const whole = ok.map((r) => r.wholeMs);
    const cpu = ok.map((r) => r.cpuS);
    rows.push([
      c.label,
      ok.length ? `${sec(median(ready))} (${sec(Math.min(...ready))})` : 'failed',
      ok.length ? `${sec(median(whole))} (${sec(Math.min(...whole))})` : 'failed',
      ok.length && cpu.every(Number.isFinite) ? `${median(cpu).toFixed(2)} s` : 'n/a',
      String(Math.max(0, ...all.map((r) => r.extraLines.length))),
    ]);
    if (c.steps && ok.length) {
      const step = (name: string) => sec(median(ok.map((r) => r.steps[name] ?? NaN)));
      stepRows.push([`-np ${c.np}`, step('mpi-ready'), step('scheduler-started'), step('bootstrapped'), step('worker-registered'), step('ready')]);
    }
  }
  rows.push(['target (-np 4)', '< 0.60 s', '< 1.00 s', '', '0']);
  rows.push(['dask-mpi, Python (-np 4, quiet machine)', '1.45 s', '2.07 s', '', '4-8 CommClosedError lines, 2-7 tracebacks']);
  const header = ['', 'ready: all workers connected', 'whole job: launch to every rank exited', 'CPU, all ranks', 'extra output lines'];
  printTable(header, rows);
  console.log('\nStart-up steps, median time after launch (slowest rank), lazy import:');
  printTable(['', 'MPI initialised', 'scheduler up', 'contact on every rank', 'workers registered', 'client ready'], stepRows);
  if (caSet) {
    const start = nodeStartCpu();
    console.log(
      `\n${CA_ENV} is set in this environment (${process.env[CA_ENV]}): every Node process parses it as it starts` +
        (start ? `, ${Math.round(start.as)} ms of CPU per process start here against ${Math.round(start.without)} ms without it` : '') +
        `. The row "without ${CA_ENV}" shows the cost of that setting, not of Tessera.`,
    );
  }
  if (problems.length) console.log(`\nProblems:\n  ${[...new Set(problems)].join('\n  ')}`);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(fmt(r));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
