/**
 * A real Slurm cluster across the netns box: slurmctld on n1, one slurmd per
 * node, each started inside its node (its network namespace and hostname),
 * NodeName = the node's hostname, NodeAddr = its ib0 address. munged runs on
 * the host: its socket is a file, which every node sees (the file system is
 * shared, as /home is on a real cluster). Client commands (sbatch, squeue,
 * scontrol) run on n1, the "login node" of this cluster.
 *
 * Differences from the single-host setup (test/slurm/cluster.ts, whose
 * reasons for the munge paths and config_overrides apply here too): fixed
 * ports (every node has its own port space), CPUs=2 per node (the real
 * count), so a 2-task step fills a node and placement across nodes is
 * Slurm's doing, not ours.
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { NetnsBox } from '../fixtures/netns/box.js';
import { requireSlurm, slurmConfCommon } from '../slurm/cluster.js';

export interface BoxSlurm {
  dir: string;
  conf: string;
  env: NodeJS.ProcessEnv;
  /** `--mpi=` value srun uses by default here: pmix when Slurm has the plugin, else none. */
  mpi: 'pmix' | 'none';
  /** Runs a Slurm client command on n1. */
  cmd(command: string, args: string[], timeoutMs?: number): { code: number | null; stdout: string; stderr: string };
  sbatch(args: string[]): string;
  job(id: string): Record<string, string> | null;
  waitJob(id: string, timeoutMs: number): Promise<Record<string, string>>;
  logs(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseRecord(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\S+?)=(\S*)/g)) if (!(m[1]! in out)) out[m[1]!] = m[2]!;
  return out;
}

export function boxSlurmConf(box: NetnsBox, dir: string, mpi: string): string {
  const head = box.nodes[0]!;
  return `# Written by Tessera's multi-node tests (test/multinode/slurm-box.ts); see docs/slurm.md.
ClusterName=tessera
SlurmctldHost=${head.name}(${head.ip.ib0})
SlurmctldPort=6817
SlurmdPort=6818
${slurmConfCommon(dir)}
MpiDefault=${mpi}
${box.nodes.map((n) => `NodeName=${n.name} NodeAddr=${n.ip.ib0} CPUs=2 RealMemory=4000 State=UNKNOWN`).join('\n')}
PartitionName=debug Nodes=${box.nodes.map((n) => n.name).join(',')} Default=YES MaxTime=INFINITE State=UP
`;
}

/** Starts munged (host), slurmctld (n1) and a slurmd on every node; waits until every node is idle. */
export async function startBoxSlurm(box: NetnsBox): Promise<BoxSlurm> {
  requireSlurm();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-multinode-slurm-'));
  chmodSync(dir, 0o755);
  for (const d of ['munge', 'state', 'run', 'log', 'jobs', ...box.nodes.flatMap((n) => [`spool/${n.name}`, `tmp/${n.name}`])]) {
    mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  }
  const mpi = ['x86_64', 'aarch64'].some((a) => existsSync(`/usr/lib/${a}-linux-gnu/slurm-wlm/mpi_pmix.so`)) ? 'pmix' : 'none';
  const conf = join(dir, 'slurm.conf');
  writeFileSync(conf, boxSlurmConf(box, dir, mpi));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(SLURM_|SBATCH_|SRUN_|SALLOC_|NODE_TEST_CONTEXT$)/.test(k)) env[k] = v;
  env.SLURM_CONF = conf;
  const head = box.nodes[0]!;
  const mungeArgs = [`--socket=${dir}/munge/munge.socket`];
  const daemons: ChildProcess[] = [];
  let stopped = false;

  const cmd = (command: string, args: string[], timeoutMs = 30_000) => box.run(head, command, args, { env, timeoutMs });
  const logs = () => {
    let s = '';
    for (const f of ['slurmctld.log', ...box.nodes.map((n) => `slurmd-${n.name}.log`)]) {
      const p = join(dir, 'log', f);
      if (existsSync(p)) s += `--- ${f}\n${readFileSync(p, 'utf8').split('\n').slice(-15).join('\n')}\n`;
    }
    return s;
  };
  const alive = () => daemons.filter((c) => c.exitCode === null && c.signalCode === null);

  const slurm: BoxSlurm = {
    dir, conf, env, mpi: mpi as 'pmix' | 'none', cmd, logs,
    sbatch(args) {
      const r = cmd('sbatch', ['--parsable', ...args]);
      assert.equal(r.code, 0, `sbatch ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout.trim().split(';')[0]!;
    },
    job(id) {
      const r = cmd('scontrol', ['show', 'job', '-o', id]);
      return r.code === 0 ? parseRecord(r.stdout) : null;
    },
    async waitJob(id, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const j = slurm.job(id);
        if (j && !/^(PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED|RESIZING)$/.test(j.JobState ?? '')) return j;
        if (Date.now() > deadline) {
          cmd('scancel', [id]);
          assert.fail(`job ${id} did not finish within ${timeoutMs} ms (state ${j?.JobState}, reason ${j?.Reason})\n${logs()}`);
        }
        await sleep(250);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // Jobs first: a step still running when slurmd stops leaves its slurmstepd behind.
      cmd('scancel', ['--full', '-u', 'root'], 10_000);
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && cmd('squeue', ['-h', '-o', '%i'], 5_000).stdout.trim()) await sleep(200);
      cmd('scontrol', ['shutdown'], 10_000);
      const end = Date.now() + 15_000;
      while (alive().length && Date.now() < end) await sleep(100);
      for (const c of alive()) c.kill('SIGKILL');
      spawnSync('munged', ['-s', ...mungeArgs], { env, timeout: 10_000 });
      if (!process.env.TESSERA_KEEP_SLURM_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    let r = spawnSync('mungekey', ['-c', '-k', `${dir}/munge/munge.key`], { encoding: 'utf8', env });
    assert.equal(r.status, 0, `mungekey failed: ${r.stderr}`);
    r = spawnSync('munged', [...mungeArgs, `--key-file=${dir}/munge/munge.key`, `--pid-file=${dir}/munge/munged.pid`,
      `--log-file=${dir}/munge/munged.log`, `--seed-file=${dir}/munge/munged.seed`], { encoding: 'utf8', env });
    assert.equal(r.status, 0, `munged failed to start: ${r.stderr}`);
    const daemon = (node: typeof head, command: string, args: string[]) => {
      // -D: in the foreground, as our children (through ip netns exec, which execs into them).
      const c = box.spawn(node, command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.once('exit', (code) => {
        if (!stopped && code !== 0) process.stderr.write(`[multinode slurm] ${command} on ${node.name} exited with ${code}: ${err}\n`);
      });
      daemons.push(c);
    };
    daemon(head, 'slurmctld', ['-D', '-f', conf]);
    await sleep(300);
    for (const n of box.nodes) daemon(n, 'slurmd', ['-D', '-f', conf]);
    const deadline = Date.now() + 45_000;
    for (;;) {
      const s = cmd('sinfo', ['-h', '-N', '-o', '%N %t']).stdout.trim().split('\n').filter(Boolean);
      if (s.length === box.nodes.length && s.every((l) => /\sidle$/.test(l))) break;
      if (Date.now() > deadline) assert.fail(`the Slurm nodes did not become idle within 45 s (sinfo: ${s.join(', ')})\n${logs()}`);
      if (alive().length < daemons.length) assert.fail(`a Slurm daemon exited during start-up\n${logs()}`);
      await sleep(250);
    }
  } catch (err) {
    await slurm.stop();
    throw err;
  }
  return slurm;
}
