/**
 * Slurm across nodes: slurmctld on n1 and a slurmd inside each of 4 netns
 * nodes (NodeName = its hostname, NodeAddr = its ib0). Batch jobs run
 * SlurmRunner over several nodes with `srun --mpi=pmix` (or --mpi=none where
 * Slurm lacks the PMIx plugin; the test names which), a heterogeneous job
 * spans nodes, and SlurmCluster's worker jobs land on different nodes.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NetnsBox } from '../fixtures/netns/box.js';
import { describeJob, fixtureLines } from '../mpi/helpers.js';
import { assertNodesEmpty, closeBox, netnsFixture, NODE, openBox, runOn } from './helpers.js';
import { startBoxSlurm, type BoxSlurm } from './slurm-box.js';

/** What stays on the nodes between jobs: the Slurm daemons (slurmstepd, jobs and steps must be gone). */
const DAEMONS = /^n\d+: \d+ (slurmctld -D|: slurmscriptd|slurmd -D)/;

interface Worker { address: string; name: string; host: string; hostname: string }
interface RunnerLine {
  procId: string; hetGroups: number[] | null; nodelist: string; pmix: boolean;
  client: { hostname: string }; scheduler: { address: string; hostname: string; dashboardHost: string | null };
  workers: Worker[]; moved: { from: string; to: string; length: number; sevens: boolean; host: string } | null;
}

function assertOnOwnIb0(box: NetnsBox, addr: string, hostname: string, what: string, context: string): void {
  assert.match(addr, new RegExp(`^tcp://${box.node(hostname).ip.ib0.replace(/\./g, '\\.')}:\\d+$`), `${what} on ${hostname} advertises its ib0\n${context}`);
}

describe('Slurm across 4 nodes (network namespaces)', { timeout: 300_000 }, () => {
  let box: NetnsBox;
  let slurm: BoxSlurm;
  before(async () => {
    box = openBox(4);
    slurm = await startBoxSlurm(box);
  });
  after(async () => {
    await slurm?.stop();
    closeBox(box);
  });

  async function runBatch(name: string, script: string, timeoutMs = 90_000): Promise<{ job: Record<string, string>; output: string }> {
    const jobs = join(slurm.dir, 'jobs');
    const path = join(jobs, `${name}.sh`);
    writeFileSync(path, script, { mode: 0o755 });
    const id = slurm.sbatch([`--chdir=${jobs}`, `--output=${jobs}/${name}-%j.out`, path]);
    const job = await slurm.waitJob(id, timeoutMs);
    return { job, output: readFileSync(join(jobs, `${name}-${id}.out`), 'utf8') };
  }

  const runner = `${NODE} ${netnsFixture('slurm-runner.js')} --interface ib0`;

  test('sbatch --nodes=3 --ntasks=6, srun --mpi=pmix (or none) SlurmRunner --interface ib0: every task on its node\'s ib0', { timeout: 120_000 }, async (t) => {
    const { job, output } = await runBatch('runner-3nodes', `#!/bin/bash
#SBATCH --nodes=3
#SBATCH --ntasks=6
#SBATCH --time=3
echo "MPI_PLUGINS=$(srun --mpi=list 2>&1 | tr '\\n' ' ')"
srun --mpi=${slurm.mpi} ${runner}
echo "SRUN_EXIT=$?"
`);
    const context = `${output}\n${slurm.logs()}`;
    t.diagnostic(`srun --mpi=${slurm.mpi}; ${/^MPI_PLUGINS=(.*)$/m.exec(output)?.[1]?.trim() ?? ''}`);
    const [r] = fixtureLines<RunnerLine>(output);
    assert.ok(r, context);
    assert.match(output, /SRUN_EXIT=0\b/, context);
    assert.equal(job.JobState, 'COMPLETED', context);
    if (slurm.mpi === 'pmix') assert.equal(r.pmix, true, `srun --mpi=pmix gave the tasks a PMIx rank\n${context}`);
    // Block distribution: tasks 0 and 1 (scheduler, client) share the first node, workers 2..5 fill the other two.
    assert.equal(r.scheduler.hostname, r.client.hostname, context);
    assertOnOwnIb0(box, r.scheduler.address, r.scheduler.hostname, 'the scheduler', context);
    assert.equal(r.scheduler.dashboardHost, box.node(r.scheduler.hostname).ip.ib0, context);
    const workerNodes = new Set(r.workers.map((w) => w.hostname));
    assert.equal(workerNodes.size, 2, `workers on two nodes\n${context}`);
    assert.ok(!workerNodes.has(r.scheduler.hostname), context);
    assert.deepEqual(r.workers.map((w) => w.name).sort(), ['2', '3', '4', '5'], context);
    for (const w of r.workers) {
      assertOnOwnIb0(box, w.address, w.hostname, `worker ${w.name}`, context);
      assert.equal(w.host, w.hostname, context);
    }
    assert.equal(r.moved?.sevens, true, context);
    assert.equal(r.moved?.length, 16 * 1024 * 1024, context);
    assert.notEqual(r.moved?.from, r.moved?.to, context);
    assertNodesEmpty(box, context, DAEMONS);
  });

  test('heterogeneous job across nodes: scheduler and client on one node, workers on two others', { timeout: 120_000 }, async () => {
    // --mpi=none: with Debian's Slurm 22.05 the pmix plugin sometimes leaves srun of a heterogeneous step
    // waiting after every task has exited (1 run in 2 here, 0 in 7 with none); the first test covers pmix.
    const { job, output } = await runBatch('hetjob', `#!/bin/bash
#SBATCH --nodes=1 --ntasks=2
#SBATCH hetjob
#SBATCH --nodes=2 --ntasks=4
srun --mpi=none --het-group=0-1 ${runner}
echo "SRUN_EXIT=$?"
`);
    const context = `${output}\n${slurm.logs()}`;
    const [r] = fixtureLines<RunnerLine>(output);
    assert.ok(r, context);
    assert.match(output, /SRUN_EXIT=0\b/, context);
    assert.equal(job.JobState, 'COMPLETED', context);
    assert.deepEqual(r.hetGroups, [2, 4], context);
    assert.equal(r.scheduler.hostname, r.client.hostname, context);
    const workerNodes = new Set(r.workers.map((w) => w.hostname));
    assert.equal(workerNodes.size, 2, context);
    assert.ok(!workerNodes.has(r.scheduler.hostname), `the large component is on other nodes\n${context}`);
    for (const w of r.workers) assertOnOwnIb0(box, w.address, w.hostname, `worker ${w.name}`, context);
    assert.equal(r.moved?.sevens, true, context);
    assertNodesEmpty(box, context, DAEMONS);
  });

  test('SlurmCluster on n1 (scheduler on n1\'s ib0): 3 exclusive worker jobs land on 3 nodes and all join', { timeout: 120_000 }, async () => {
    const logs = join(slurm.dir, 'jobs', 'cluster');
    const r = await runOn(box, box.node('n1'), NODE, [netnsFixture('slurm-cluster.js'), '3', logs], { env: slurm.env, timeoutMs: 100_000 });
    const context = `${describeJob(r)}\n${slurm.logs()}`;
    assert.equal(r.code, 0, context);
    const [line] = fixtureLines<{ scheduler: { address: string; hostname: string }; workers: Worker[]; total: number }>(r.stdout);
    assert.ok(line, context);
    assert.match(line.scheduler.address, /^tcp:\/\/10\.99\.0\.11:\d+$/, context);
    assert.equal(line.workers.length, 3, context);
    assert.equal(new Set(line.workers.map((w) => w.hostname)).size, 3, `one worker job per node (--exclusive)\n${context}`);
    for (const w of line.workers) assertOnOwnIb0(box, w.address, w.hostname, `worker ${w.name}`, context);
    assert.equal(line.total, 55, context);
    // The worker jobs end with the cluster; wait for Slurm to see them go, then nothing may be left on the nodes.
    const deadline = Date.now() + 30_000;
    while (slurm.cmd('squeue', ['-h', '-o', '%i']).stdout.trim() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 250));
    assert.equal(slurm.cmd('squeue', ['-h', '-o', '%i']).stdout.trim(), '', `worker jobs still queued 30 s after close()\n${context}`);
    assertNodesEmpty(box, context, DAEMONS);
  });
});
