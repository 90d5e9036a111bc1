/**
 * A real, private Slurm cluster for the tests: munged, slurmctld and two
 * node daemons (n1, n2) on this machine, all with their own configuration
 * and state under one temporary directory, started as root and stopped
 * afterwards. docs/slurm.md describes the same setup for people.
 *
 * Missing slurm-wlm or munge fails the suite (naming the Debian packages):
 * a Slurm layer that silently skips its tests is untested.
 *
 * Why the configuration looks the way it does (Slurm 22.05, munge 0.5):
 * - munged as root refuses its default paths ("Logfile is insecure"), so it
 *   gets its own key, socket, pid, log and seed files in a 0755 directory,
 *   and Slurm is pointed at that socket with AuthInfo=socket=...
 * - SLURM_CONF is exported to the daemons and every client command; without
 *   it the commands try DNS SRV lookups for the controller and fail.
 * - CPUs=8 per node on a 2-core machine needs SlurmdParameters=config_overrides,
 *   or the node drains with "Low CPUs".
 * - Heterogeneous jobs never start on one node and are started only by the
 *   backfill scheduler: two virtual nodes on 127.0.0.1, bf_interval=1.
 * - KillWait=5 shortens walltime kills.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TESSERA_BIN } from '../fixtures/package.js';

const COMMANDS: Record<string, string> = {
  slurmctld: 'slurmctld (package slurmctld, pulled in by slurm-wlm)',
  slurmd: 'slurmd (package slurmd, pulled in by slurm-wlm)',
  sbatch: 'slurm-client (pulled in by slurm-wlm)',
  munged: 'munge',
  mungekey: 'munge',
};

/** The repository root, from this compiled file (dist/test/slurm/ or another outDir). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The `tessera-compute` command as installed (package.json's bin). */
export const CLI_PATH = TESSERA_BIN;

export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/slurm/${name}`, import.meta.url));
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin'])) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

/** Fails (never skips) when Slurm or munge is missing, naming what to install. */
export function requireSlurm(): void {
  const missing = Object.keys(COMMANDS).filter((c) => !which(c));
  if (missing.length) {
    assert.fail(`the Slurm tests need ${missing.join(', ')}; install the Debian packages: ` +
      `apt-get install -y slurm-wlm munge (missing: ${missing.map((m) => COMMANDS[m]).join('; ')})`);
  }
  if (process.getuid?.() !== 0) assert.fail('the Slurm tests start slurmctld, slurmd and munged as root (SlurmUser=root); run them as root');
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SlurmTestCluster {
  dir: string;
  conf: string;
  /** Our environment plus SLURM_CONF, without any SLURM_* of an enclosing job. */
  env: NodeJS.ProcessEnv;
  /** Runs a Slurm client command synchronously (sbatch, squeue, scontrol, ...). */
  cmd(command: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): RunResult;
  /** sbatch: returns the job id. */
  sbatch(args: string[], opts?: { env?: NodeJS.ProcessEnv }): string;
  /** `scontrol show job ID` as key=value pairs, or null once Slurm forgot the job. */
  job(id: string): Record<string, string> | null;
  /** Waits until a job has left the running/pending states; returns its final record. */
  waitJob(id: string, timeoutMs: number): Promise<Record<string, string>>;
  /** Job ids in the queue (pending, running, completing). */
  queue(): string[];
  stop(): Promise<void>;
}

/** Three consecutive free ports (controller, n1, n2), so two test runs on one machine never share a controller. */
async function freePorts(): Promise<number> {
  const fixed = process.env.TESSERA_TEST_SLURMCTLD_PORT;
  if (fixed) return Number(fixed);
  const free = (port: number) => new Promise<boolean>((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
  for (let i = 0; i < 50; i++) {
    const base = 17000 + Math.floor(Math.random() * 2000) * 3;
    if ((await free(base)) && (await free(base + 1)) && (await free(base + 2))) return base;
  }
  return 17000;
}

/** The settings every test cluster shares (one host, or network-namespace nodes): root, munge, files under `dir`, fast scheduling. */
export function slurmConfCommon(dir: string): string {
  return `SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=${dir}/munge/munge.socket
CredType=cred/munge
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool/%n
SlurmctldPidFile=${dir}/run/slurmctld.pid
SlurmdPidFile=${dir}/run/slurmd-%n.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd-%n.log
TmpFS=${dir}/tmp/%n
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
MinJobAge=300`;
}

export function slurmConf(dir: string, mpiDefault: string, port = 17000): string {
  return `# Written by Tessera's test setup (test/slurm/cluster.ts); see docs/slurm.md.
ClusterName=tessera
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${port}
${slurmConfCommon(dir)}
MpiDefault=${mpiDefault}
NodeName=n[1-2] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[${port + 1}-${port + 2}] CPUs=8 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=n[1-2] Default=YES MaxTime=INFINITE State=UP
`;
}

function parseRecord(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\S+?)=(\S*)/g)) if (!(m[1]! in out)) out[m[1]!] = m[2]!;
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let active: SlurmTestCluster | null = null;

/** Starts munged, slurmctld and slurmd n1/n2, and waits until both nodes are idle. */
export async function startSlurm(): Promise<SlurmTestCluster> {
  requireSlurm();
  assert.equal(active, null, 'a test Slurm cluster is already running in this process');
  const dir = mkdtempSync(join(tmpdir(), 'tessera-slurm-'));
  // munged checks that no directory on the way to its files is writable by others.
  chmodSync(dir, 0o755);
  for (const d of ['munge', 'state', 'run', 'log', 'spool/n1', 'spool/n2', 'tmp/n1', 'tmp/n2', 'jobs']) {
    mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  }
  const conf = join(dir, 'slurm.conf');
  const pmix = existsSync('/usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmix.so') || existsSync('/usr/lib/aarch64-linux-gnu/slurm-wlm/mpi_pmix.so');
  writeFileSync(conf, slurmConf(dir, pmix ? 'pmix' : 'none', await freePorts()));

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(SLURM_|SBATCH_|SRUN_|SALLOC_|NODE_TEST_CONTEXT$)/.test(k)) env[k] = v;
  env.SLURM_CONF = conf;

  const children: ChildProcess[] = [];
  const munge = join(dir, 'munge');
  const mungeArgs = [`--socket=${munge}/munge.socket`];
  let stopped = false;

  const cmd = (command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult => {
    const r = spawnSync(command, args, { env: opts.env ?? env, encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000 });
    return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  };
  const logs = () => {
    let s = '';
    for (const f of ['slurmctld.log', 'slurmd-n1.log', 'slurmd-n2.log']) {
      const p = join(dir, 'log', f);
      if (existsSync(p)) s += `--- ${f}\n${readFileSync(p, 'utf8').split('\n').slice(-15).join('\n')}\n`;
    }
    return s;
  };

  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    // Jobs first, and wait for them to go: `scontrol shutdown` stops the daemons, and a job step
    // still running then leaves an orphaned slurmstepd behind.
    cmd('scancel', ['--full', '-u', 'root'], { timeoutMs: 10_000 });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && cmd('squeue', ['-h', '-o', '%i'], { timeoutMs: 5_000 }).stdout.trim()) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
    cmd('scontrol', ['shutdown'], { timeoutMs: 10_000 });
  };
  const onExit = () => {
    stopSync();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    spawnSync('munged', ['-s', ...mungeArgs], { env, timeout: 10_000 });
  };
  process.once('exit', onExit);

  const cluster: SlurmTestCluster = {
    dir,
    conf,
    env,
    cmd,
    sbatch(args, opts = {}) {
      const r = cmd('sbatch', ['--parsable', ...args], opts);
      assert.equal(r.code, 0, `sbatch ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout.trim().split(';')[0]!;
    },
    job(id) {
      const r = cmd('scontrol', ['show', 'job', '-o', id]);
      if (r.code !== 0) return null;
      return parseRecord(r.stdout);
    },
    async waitJob(id, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const j = cluster.job(id);
        if (j && !/^(PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED|RESIZING)$/.test(j.JobState ?? '')) return j;
        if (Date.now() > deadline) {
          cmd('scancel', [id]);
          assert.fail(`job ${id} did not finish within ${timeoutMs} ms (state ${j?.JobState}, reason ${j?.Reason})\n${logs()}`);
        }
        await sleep(250);
      }
    },
    queue() {
      const r = cmd('squeue', ['-h', '-o', '%i']);
      return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    },
    async stop() {
      if (stopped) return;
      const daemons = children.filter((c) => c.exitCode === null && c.signalCode === null);
      stopSync();
      const deadline = Date.now() + 15_000;
      while (daemons.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) await sleep(100);
      for (const c of daemons) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      cmd('munged', ['-s', ...mungeArgs]);
      process.removeListener('exit', onExit);
      active = null;
      if (!process.env.TESSERA_KEEP_SLURM_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };
  active = cluster;

  try {
    let r = cmd('mungekey', ['-c', '-k', `${munge}/munge.key`]);
    assert.equal(r.code, 0, `mungekey failed: ${r.stderr}`);
    r = cmd('munged', [...mungeArgs, `--key-file=${munge}/munge.key`, `--pid-file=${munge}/munged.pid`,
      `--log-file=${munge}/munged.log`, `--seed-file=${munge}/munged.seed`]);
    assert.equal(r.code, 0, `munged failed to start: ${r.stderr}`);

    const daemon = (command: string, args: string[]) => {
      const c = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.once('exit', (code) => {
        if (!stopped && code !== 0) process.stderr.write(`[slurm test] ${command} ${args.join(' ')} exited with ${code}: ${err}\n`);
      });
      children.push(c);
    };
    // -D: in the foreground, as our children, so nothing outlives the tests unnoticed.
    daemon('slurmctld', ['-D', '-f', conf]);
    await sleep(300);
    daemon('slurmd', ['-D', '-N', 'n1', '-f', conf]);
    daemon('slurmd', ['-D', '-N', 'n2', '-f', conf]);

    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = cmd('sinfo', ['-h', '-N', '-o', '%N %t']).stdout.trim().split('\n').filter(Boolean);
      if (s.length === 2 && s.every((l) => /\sidle$/.test(l))) break;
      if (Date.now() > deadline) assert.fail(`the test Slurm nodes did not become idle within 30 s (sinfo: ${s.join(', ')})\n${logs()}`);
      if (children.some((c) => c.exitCode !== null)) assert.fail(`a Slurm daemon exited during start-up\n${logs()}`);
      await sleep(250);
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

export { logsOf };
function logsOf(c: SlurmTestCluster): string {
  let s = '';
  for (const f of ['slurmctld.log', 'slurmd-n1.log', 'slurmd-n2.log']) {
    const p = join(c.dir, 'log', f);
    if (existsSync(p)) s += `--- ${f}\n${readFileSync(p, 'utf8').split('\n').slice(-20).join('\n')}\n`;
  }
  return s;
}
