/**
 * SlurmCluster against a real Slurm controller: worker jobs submitted with
 * sbatch, scaled up and down, adaptive scaling under a backlog, jobs that
 * fail to start, and a worker retiring at its lifetime (the walltime path)
 * in the middle of a computation.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSlurm, CLI_PATH, type SlurmTestCluster } from './cluster.js';
import { SlurmCluster, type SlurmClusterOptions, type JobEnded } from '../../src/deploy/slurm/index.js';
import { Client } from '../../src/client/client.js';

let slurm: SlurmTestCluster;
const open: SlurmCluster[] = [];
before(async () => {
  slurm = await startSlurm();
});
after(async () => {
  for (const c of open) await c.close().catch(() => undefined);
  await slurm?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startCluster(extra: Partial<SlurmClusterOptions> = {}): Promise<SlurmCluster> {
  const logs = join(slurm.dir, 'jobs', `logs-${open.length}`);
  const cluster = await SlurmCluster.start({
    queue: 'debug',
    cores: 1,
    memory: '512MB',
    walltime: '00:10:00',
    logDirectory: logs,
    schedulerFile: join(slurm.dir, 'jobs', `scheduler-${open.length}.json`),
    schedulerOptions: { dashboard: false },
    tesseraCommand: CLI_PATH,
    env: slurm.env,
    pollIntervalMs: 500,
    verbose: false,
    ...extra,
  });
  open.push(cluster);
  return cluster;
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

const workerNames = async (client: Client) => Object.values((await client.schedulerInfo()).workers).map((w) => w.name).sort();

test('jobScript() has the directives, prologue and the worker command line', { timeout: 90_000 }, async () => {
  const cluster = await startCluster({ account: 'proj', jobExtraDirectives: ['--exclusive'], jobDirectivesSkip: ['--mem'], jobScriptPrologue: ['export FOO=1'] });
  const script = cluster.jobScript();
  assert.match(script, /^#!\/usr\/bin\/env bash\n/);
  for (const d of ['-J tessera-worker', '-p debug', '-A proj', '-n 1', '--cpus-per-task=1', '-t 00:10:00', '--exclusive']) assert.ok(script.includes(`#SBATCH ${d}\n`), `${d} in\n${script}`);
  assert.doesNotMatch(script, /--mem=/);
  assert.match(script, /\nexport FOO=1\nexec .* worker --scheduler-file \S+ --name "tessera-worker-\$SLURM_JOB_ID" --nthreads 1 --memory-limit 512000000 --lifetime 540 /);
  await cluster.close();
});

test('scale({ jobs: 2 }) submits two jobs, runs a graph, scales down, and close() empties the queue', { timeout: 90_000 }, async () => {
  const cluster = await startCluster();
  await cluster.scale({ jobs: 2 });
  const ids = [...cluster.jobs.keys()];
  assert.equal(ids.length, 2);
  assert.deepEqual(slurm.queue().filter((q) => ids.includes(q)).sort(), [...ids].sort(), 'both worker jobs are in squeue');
  const client = await Client.connect(cluster, { setAsCurrent: false });
  await client.waitForWorkers(2, { timeoutMs: 30_000 });
  assert.deepEqual(await workerNames(client), ids.map((id) => `tessera-worker-${id}`).sort());
  const xs = client.map((x: number) => x * 10, [1, 2, 3, 4, 5, 6]);
  const total = await client.submit((v: number[]) => v.reduce((a, b) => a + b, 0), await client.gather(xs)).result();
  assert.equal(total, 210);

  await cluster.scale({ workers: 1 });
  await until('one worker left', async () => (await workerNames(client)).length === 1);
  await until('one job left in squeue', () => slurm.queue().filter((q) => ids.includes(q)).length === 1);
  assert.equal(await client.submit((x: number) => x + 1, 41).result(), 42);
  assert.equal(cluster.failures.length, 0, JSON.stringify(cluster.failures));

  await client.close();
  await cluster.close();
  assert.deepEqual(slurm.queue().filter((q) => ids.includes(q)), [], 'no job left in the queue');
  assert.ok(!existsSync(cluster.schedulerFile), 'the scheduler file is removed');
});

test('adapt() grows under a backlog and shrinks when idle', { timeout: 90_000 }, async () => {
  const cluster = await startCluster();
  const adaptive = cluster.adapt({ minimum: 0, maximum: 2, intervalMs: 500, waitCount: 2 });
  const client = await Client.connect(cluster, { setAsCurrent: false });
  const futures = client.map(async (x: number) => {
    await new Promise((r) => setTimeout(r, 400));
    return x * x;
  }, Array.from({ length: 16 }, (_, i) => i));
  await until('two worker jobs', () => cluster.targetJobs === 2, 20_000);
  const squares = await client.gather(futures);
  assert.deepEqual(squares, Array.from({ length: 16 }, (_, i) => i * i));
  client.release(futures);
  await until('scale down to no jobs', () => cluster.targetJobs === 0 && slurm.queue().filter((q) => cluster.jobs.has(q)).length === 0, 30_000);
  adaptive.stop();
  await client.close();
  await cluster.close();
});

test('jobs that end before their worker joins are reported, and resubmission stops', { timeout: 90_000 }, async () => {
  const cluster = await startCluster({ tesseraCommand: '/nonexistent/tessera', maxStartFailures: 2 });
  const events: JobEnded[] = [];
  cluster.on('job-ended', (e: JobEnded) => events.push(e));
  await cluster.scale(1);
  await until('the cluster gives up', () => cluster.lastError !== null, 30_000);
  assert.ok(events.length >= 2);
  for (const e of events) {
    assert.equal(e.unexpected, true);
    assert.equal(e.failed, true);
    assert.equal(e.job.joined, false);
    assert.match(e.message, /ended before its worker joined the scheduler \(FAILED, exit code 127:0/);
  }
  assert.equal(cluster.lastError!.code, 'ERR_TESSERA_SLURM');
  await sleep(1500);
  assert.equal(cluster.jobs.size, events.length, 'no more jobs submitted after giving up');
  await cluster.close();
});

test('a worker retiring at its lifetime mid-computation loses nothing: a new job takes over', { timeout: 90_000 }, async () => {
  const lifetime = 6;
  const cluster = await startCluster({ lifetime });
  await cluster.scale(1);
  const client = await Client.connect(cluster, { setAsCurrent: false });
  await client.waitForWorkers(1, { timeoutMs: 30_000 });
  const first = (await workerNames(client))[0]!;
  const joined = Date.now();
  // Start so that the worker's lifetime ends in the middle of the work.
  await sleep((lifetime - 3) * 1000);
  const inputs = Array.from({ length: 12 }, (_, i) => i);
  const parts = client.map(async (x: number) => {
    await new Promise((r) => setTimeout(r, 300));
    return x + 1;
  }, inputs);
  const total = client.submit((...v: number[]) => v.reduce((a, b) => a + b, 0), ...parts);
  assert.equal(await total.result(), 78);
  assert.ok(Date.now() - joined > lifetime * 1000, 'the computation outlived the first worker');
  const names = await workerNames(client);
  assert.ok(!names.includes(first), `the first worker (${first}) retired; workers now: ${names.join(', ')}`);
  const ended = cluster.ended.find((f) => f.job.workerName === first);
  assert.equal(cluster.failures.length, 0, 'a retirement is no failure');
  assert.ok(ended, 'the retired job was noticed');
  assert.equal(ended.job.joined, true);
  assert.equal(ended.job.slurmState, 'COMPLETED');
  const log = readdirSync(join(slurm.dir, 'jobs')).filter((d) => d.startsWith('logs-')).map((d) => join(slurm.dir, 'jobs', d, `tessera-worker-${ended.job.id}.err`)).find(existsSync);
  assert.ok(log && /retiring: lifetime reached/.test(readFileSync(log, 'utf8')), 'the worker log says it retired');
  await client.close();
  await cluster.close();
});

test("a worker job stopped by Slurm's SIGTERM (as at its walltime) mid-computation: the result is still right", { timeout: 90_000 }, async () => {
  const cluster = await startCluster();
  await cluster.scale(2);
  const client = await Client.connect(cluster, { setAsCurrent: false });
  await client.waitForWorkers(2, { timeoutMs: 30_000 });
  const parts = client.map(async (x: number) => {
    await new Promise((r) => setTimeout(r, 250));
    return x * 3;
  }, Array.from({ length: 16 }, (_, i) => i));
  const total = client.submit((...v: number[]) => v.reduce((a, b) => a + b, 0), ...parts);
  await sleep(1000);
  const victim = [...cluster.jobs.values()].find((j) => j.state === 'running')!;
  // What Slurm sends at the walltime (then SIGKILL after KillWait); the job script exec'd the worker, so it gets it.
  const r = slurm.cmd('scancel', ['--signal=TERM', '--batch', victim.id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await total.result(), 360);
  await until('the stopped job is noticed', () => cluster.ended.some((e) => e.job.id === victim.id), 20_000);
  await until('a replacement job', () => [...cluster.jobs.values()].filter((j) => j.state === 'running' || j.state === 'pending').length === 2, 20_000);
  await client.close();
  await cluster.close();
  assert.deepEqual(slurm.queue().filter((q) => cluster.jobs.has(q)), []);
});

test('a worker job that hits its real walltime: Slurm ends it, a new job takes over, nothing is lost', { timeout: 240_000 }, async () => {
  // A one-minute job whose worker does not retire early (lifetime beyond the
  // walltime), so Slurm's own time limit ends it while it holds results.
  const cluster = await startCluster({ walltime: '00:01:00', lifetime: 3600 });
  await cluster.scale(1);
  const client = await Client.connect(cluster, { setAsCurrent: false });
  await client.waitForWorkers(1, { timeoutMs: 30_000 });
  // The job whose worker joined (its state in cluster.jobs may lag one poll behind).
  const firstName = (await workerNames(client))[0]!;
  const firstJob = [...cluster.jobs.values()].find((j) => j.workerName === firstName)!;
  assert.ok(firstJob, `a job for worker ${firstName}`);
  const parts = client.map(async (x: number) => {
    await new Promise((r) => setTimeout(r, 500));
    return x * 2;
  }, Array.from({ length: 40 }, (_, i) => i));
  // The results sit on the first worker until Slurm's time limit ends its job.
  await until('the first job reaches its time limit', () => cluster.ended.some((e) => e.job.id === firstJob.id), 150_000);
  const ended = cluster.ended.find((e) => e.job.id === firstJob.id)!;
  assert.equal(ended.job.slurmState, 'TIMEOUT', ended.message);
  const total = client.submit((...v: number[]) => v.reduce((a, b) => a + b, 0), ...parts);
  assert.equal(await total.result({ timeoutMs: 90_000 }), 2 * (39 * 40) / 2);
  assert.ok(!(await workerNames(client)).includes(firstJob.workerName), 'the result came from the replacement job');
  await client.close();
  await cluster.close();
});
