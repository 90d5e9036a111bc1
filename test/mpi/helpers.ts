/**
 * Running real MPI jobs from tests: locating mpirun/mpiexec.mpich and the
 * libraries (failing, never skipping, with the Debian package to install
 * when they are missing), spawning a job with a hard timeout, and parsing
 * the fixtures' `TESSERA_FIXTURE {json}` lines.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A compiled fixture, found next to this compiled file (works from dist/ and dist-mpi/). */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/mpi/${name}`, import.meta.url));
}

const PACKAGES: Record<string, string> = {
  mpirun: 'openmpi-bin (apt-get install -y openmpi-bin libopenmpi-dev)',
  'mpiexec.mpich': 'mpich (apt-get install -y mpich)',
};

/** Fails the calling test when `command` is not installed, naming the Debian package that provides it. */
export function requireCommand(command: 'mpirun' | 'mpiexec.mpich'): void {
  const r = spawnSync(command, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    assert.fail(`${command} is not installed; the MPI tests need it: install the Debian package ${PACKAGES[command]}`);
  }
}

/** The absolute path of a shared library from the dynamic linker's cache, or a failed assertion naming the package. */
export function libraryPath(soname: string, pkg: string): string {
  const ldconfig = ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig'].find((p) => p === 'ldconfig' || existsSync(p))!;
  const r = spawnSync(ldconfig, ['-p'], { encoding: 'utf8', timeout: 30_000 });
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
    if (m && m[1] === soname && (process.arch !== 'x64' || m[2]!.includes('x86-64'))) return m[3]!;
  }
  return assert.fail(`${soname} is not in the dynamic linker's cache (ldconfig -p); install the Debian package ${pkg}`);
}

export interface JobResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  elapsedMs: number;
  /** Processes of the job's process group still alive when the launcher exited (then killed): ranks that outlived their job. */
  leftovers: string[];
}

/** The processes (pid and command) in process group `pgid`. */
function processGroup(pgid: number): string[] {
  const r = spawnSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8', timeout: 10_000 });
  const out: string[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    // Zombies are already dead, waiting for their parent to reap them.
    if (m && Number(m[2]) === pgid && !m[3]!.startsWith('Z')) out.push(`${m[1]} ${m[4]}`);
  }
  return out;
}

/** The environment for a job: ours without launcher variables (a test run under mpirun must not leak its own), plus root-friendly OpenMPI settings. */
export function jobEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(OMPI_|PMIX_|PMI_|SLURM_|MPI_LOCAL|HYDRA_|HWLOC_|UCX_|TESSERA_MPI_LIB$|NODE_TEST_CONTEXT$)/.test(k)) continue;
    env[k] = v;
  }
  Object.assign(env, {
    // CI runs as root; OpenMPI refuses that without both variables.
    OMPI_ALLOW_RUN_AS_ROOT: '1',
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    // Containers often lack ptrace permission, which OpenMPI's shared-memory
    // single-copy path (CMA) needs for large messages.
    OMPI_MCA_btl_vader_single_copy_mechanism: 'none',
  });
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Runs a command in its own process group and kills the whole group after
 * `timeoutMs`, so a hung MPI job fails the test instead of hanging CI.
 */
export function runJob(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; onStdout?: (text: string, child: import('node:child_process').ChildProcess) => void } = {},
): Promise<JobResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? jobEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 3_000).unref();
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const elapsedMs = Date.now() - started;
      const leftovers = processGroup(child.pid!);
      // Anything left in the group (a rank the launcher did not reap) goes too.
      killGroup('SIGKILL');
      resolve({ code, signal, stdout, stderr, timedOut, elapsedMs, leftovers });
    });
  });
}

/** The JSON objects the fixtures printed (`TESSERA_FIXTURE {...}`), and their errors (`TESSERA_FIXTURE_ERROR {...}`). */
export function fixtureLines<T = Record<string, unknown>>(output: string, kind: 'TESSERA_FIXTURE' | 'TESSERA_FIXTURE_ERROR' = 'TESSERA_FIXTURE'): T[] {
  const out: T[] = [];
  for (const line of output.split('\n')) {
    if (line.startsWith(`${kind} `)) out.push(JSON.parse(line.slice(kind.length + 1)) as T);
  }
  return out;
}

/** A readable dump of a job for assertion messages. */
export function describeJob(r: JobResult): string {
  const tail = (s: string) => (s.length > 4000 ? `...${s.slice(-4000)}` : s);
  return `exit code ${r.code}, signal ${r.signal}${r.timedOut ? ', TIMED OUT' : ''}, ${r.elapsedMs} ms${r.leftovers.length ? `, left behind: ${r.leftovers.join('; ')}` : ''}\n--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`;
}

/** The OpenMPI launcher arguments every test uses. */
export function mpirunArgs(np: number, ...rest: string[]): string[] {
  return ['--allow-run-as-root', '--oversubscribe', '-np', String(np), ...rest];
}
