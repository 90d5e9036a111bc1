/**
 * MPI across nodes: real mpirun (OpenMPI) and mpiexec (MPICH hydra) started
 * on n1 of a 4-node netns box, reaching n2..n4 through the box's launch agent
 * as they would through ssh. The interface a process advertises is what
 * matters here: eth0 is every node's first interface, ib0 the one users name.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NetnsBox } from '../fixtures/netns/box.js';
import { TESSERA_BIN } from '../fixtures/package.js';
import { describeJob, fixtureLines, jobEnv, libraryPath, requireCommand, runJob } from '../mpi/helpers.js';
import { assertNodesEmpty, closeBox, hostList, mpichArgs, netnsFixture, NODE, ompiArgs, openBox, runOn } from './helpers.js';

const JOB = netnsFixture('mpi-job.js');
const FILE_CLIENT = netnsFixture('file-client.js');
const PREP = new URL('../../examples/nyctaxi/prep_nyctaxi.js', import.meta.url).pathname;
const MiB = 1024 * 1024;

interface Worker { address: string; name: string; host: string; hostname: string }
interface JobLine {
  client: { hostname: string; schedulerAddress: string };
  scheduler: { address: string; dashboardHost: string | null; dashboard: number | null; hostname: string };
  dashboardLink: string | null;
  schedulerFile: { address: string; host: string; services: { dashboard?: number } } | null;
  workers: Worker[];
  moved: { from: string; to: string; length: number; sum: number; expected: number; host: string } | null;
}

/** Every worker advertises the address `net` has on the node it runs on. */
function assertAdvertised(box: NetnsBox, workers: Worker[], net: 'ib0' | 'eth0', context: string): void {
  for (const w of workers) {
    const node = box.node(w.hostname);
    assert.match(w.address, new RegExp(`^tcp://${node.ip[net].replace(/\./g, '\\.')}:\\d+$`), `worker ${w.name} on ${w.hostname} advertises its ${net}\n${context}`);
    assert.equal(w.host, w.hostname, `the scheduler knows worker ${w.name}'s host by its own hostname\n${context}`);
  }
}

describe('MPI across 4 nodes (network namespaces)', { timeout: 300_000 }, () => {
  let box: NetnsBox;
  let dir: string;
  before(() => {
    requireCommand('mpirun');
    requireCommand('mpiexec.mpich');
    box = openBox(4);
    dir = mkdtempSync(join(tmpdir(), 'tessera-multinode-mpi-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    closeBox(box);
  });

  test('mpirun (OpenMPI) 4 nodes x 2 ranks, initialize({ interface: ib0 }): every process advertises its ib0; 64 MiB moves n2 -> n3 over ib0 only', { timeout: 90_000 }, async () => {
    const [n1, n2] = [box.node('n1'), box.node('n2')];
    const file = join(dir, 'ompi-scheduler.json');
    const before = { ib0: box.bytes(n2, 'ib0'), eth0: box.bytes(n2, 'eth0') };
    const r = await runOn(box, n1, 'mpirun', ompiArgs(box, hostList(box, 2), 8, NODE, JOB, '--interface', 'ib0', '--scheduler-file', file, '--mib', '64'), { timeoutMs: 60_000 });
    const context = describeJob(r);
    assert.equal(r.code, 0, context);
    assert.deepEqual(r.leftovers, [], context);
    assertNodesEmpty(box, context);
    const [line] = fixtureLines<JobLine>(r.stdout);
    assert.ok(line, context);

    // Ranks 0 (scheduler) and 1 (client) on n1, workers 2..7 two per node on n2..n4.
    assert.equal(line.scheduler.hostname, 'n1', context);
    assert.equal(line.client.hostname, 'n1', context);
    assert.match(line.scheduler.address, /^tcp:\/\/10\.99\.0\.11:\d+$/, `the scheduler advertises n1's ib0\n${context}`);
    assert.equal(line.client.schedulerAddress, line.scheduler.address, context);
    assert.deepEqual(line.workers.map((w) => w.name).sort(), ['2', '3', '4', '5', '6', '7'], context);
    assert.deepEqual(line.workers.map((w) => w.hostname).sort(), ['n2', 'n2', 'n3', 'n3', 'n4', 'n4'], context);
    assertAdvertised(box, line.workers, 'ib0', context);

    // The scheduler file and the dashboard line name n1's ib0 address, and the tunnel goes there through the login node.
    assert.equal(line.schedulerFile?.address, line.scheduler.address, `scheduler file\n${context}`);
    assert.equal(line.schedulerFile?.host, 'n1', context);
    assert.equal(line.scheduler.dashboardHost, '10.99.0.11', context);
    const port = line.scheduler.dashboard;
    assert.equal(line.dashboardLink, `http://10.99.0.11:${port}/status`, context);
    assert.match(r.stderr, new RegExp(`dashboard at http://10\\.99\\.0\\.11:${port}/status - from your computer: ssh -L ${port}:10\\.99\\.0\\.11:${port} <login-node>, then open http://localhost:${port}/status`), context);

    // The dependency was made on n2 and used on n3; its bytes crossed n2's ib0, nothing of it eth0.
    assert.deepEqual({ from: line.moved?.from, to: line.moved?.to, host: line.moved?.host, length: line.moved?.length }, { from: 'n2', to: 'n3', host: 'n3', length: 64 * MiB }, context);
    assert.equal(line.moved!.sum, line.moved!.expected, `the bytes arrived intact\n${context}`);
    const sentIb = box.bytes(n2, 'ib0').sent - before.ib0.sent;
    const sentEth = box.bytes(n2, 'eth0').sent - before.eth0.sent;
    assert.ok(sentIb >= 64 * MiB, `n2 sent ${sentIb} bytes on ib0, at least the 64 MiB dependency`);
    assert.ok(sentIb < 3 * 64 * MiB, `n2 sent ${sentIb} bytes on ib0: the dependency went once (not to every node)`);
    assert.ok(sentEth < MiB, `n2 sent ${sentEth} bytes on eth0: nothing of Tessera's goes there`);
  });

  test('mpiexec (MPICH hydra, ssh launcher = the agent) without an interface: every process advertises its first interface, eth0', { timeout: 90_000 }, async () => {
    const mpich = libraryPath('libmpich.so.12', 'mpich (apt-get install -y mpich)');
    const n1 = box.node('n1');
    const r = await runOn(box, n1, 'mpiexec.mpich', mpichArgs(box, hostList(box, 2), 8, '-genv', 'TESSERA_MPI_LIB', mpich, NODE, JOB, '--mib', '1'), { timeoutMs: 60_000 });
    const context = describeJob(r);
    assert.equal(r.code, 0, context);
    assert.deepEqual(r.leftovers, [], context);
    assertNodesEmpty(box, context);
    const [line] = fixtureLines<JobLine>(r.stdout);
    assert.ok(line, context);
    assert.match(line.scheduler.address, /^tcp:\/\/10\.98\.0\.11:\d+$/, `without an interface the scheduler advertises n1's first interface (eth0)\n${context}`);
    assert.deepEqual(line.workers.map((w) => w.hostname).sort(), ['n2', 'n2', 'n3', 'n3', 'n4', 'n4'], context);
    assertAdvertised(box, line.workers, 'eth0', context);
    assert.equal(line.moved?.sum, line.moved?.expected, context);
  });

  test('mpirun ... tessera-compute mpi --interface ib0 --scheduler-file F; a client on n1 finds every worker on its node\'s ib0', { timeout: 90_000 }, async () => {
    const n1 = box.node('n1');
    const file = join(dir, 'cli-scheduler.json');
    const launched = Date.now();
    const job = runOn(box, n1, 'mpirun', ompiArgs(box, hostList(box, [1, 2, 2, 2]), 7, NODE, TESSERA_BIN, 'mpi', '--interface', 'ib0', '--scheduler-file', file, '--dashboard-address', ':0'), { timeoutMs: 70_000 });
    const c = await runOn(box, n1, NODE, [FILE_CLIENT, file, '6'], { timeoutMs: 60_000 });
    const r = await job;
    const context = `client: ${describeJob(c)}\nmpirun: ${describeJob(r)}`;
    assert.equal(c.code, 0, context);
    assert.equal(r.code, 0, context);
    assert.deepEqual(r.leftovers, [], context);
    assertNodesEmpty(box, context);
    const [line] = fixtureLines<{ file: { address: string; host: string; started: number }; scheduler: { address: string; dashboardHost: string }; workers: Worker[]; squares: number[] }>(c.stdout);
    assert.ok(line, context);
    assert.ok(line.file.started >= launched - 5_000, context);
    assert.match(line.file.address, /^tcp:\/\/10\.99\.0\.11:\d+$/, `the scheduler file names n1's ib0\n${context}`);
    assert.equal(line.file.host, 'n1', context);
    assert.equal(line.scheduler.dashboardHost, '10.99.0.11', context);
    assert.deepEqual(line.workers.map((w) => w.name).sort(), ['tessera-mpi-1', 'tessera-mpi-2', 'tessera-mpi-3', 'tessera-mpi-4', 'tessera-mpi-5', 'tessera-mpi-6'], context);
    assert.deepEqual(line.workers.map((w) => w.hostname).sort(), ['n2', 'n2', 'n3', 'n3', 'n4', 'n4'], context);
    assertAdvertised(box, line.workers, 'ib0', context);
    assert.deepEqual(line.squares, [1, 4, 9, 16, 25, 36, 49, 64], context);
  });

  test('prep_nyctaxi --mpi --interface ib0 over 4 nodes x 2 ranks writes the same Parquet files as on a LocalCluster', { timeout: 150_000 }, async () => {
    const data = join(dir, 'data');
    const gen = spawnSync(NODE, [TESSERA_BIN, 'demo-data', '--rows', '20000', '--files', '4', '--out', data], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(gen.status, 0, `demo-data failed: ${gen.stderr}`);
    const local = await runJob(NODE, [PREP, '--nyc_taxi_dataset', data, '--output_folder', join(dir, 'local'), '--dashboard_address', ':0'], { env: jobEnv(), timeoutMs: 60_000 });
    assert.equal(local.code, 0, describeJob(local));
    const r = await runOn(box, box.node('n1'), 'mpirun', ompiArgs(box, hostList(box, 2), 8, NODE, PREP, '--mpi', '--interface', 'ib0',
      '--nyc_taxi_dataset', data, '--output_folder', join(dir, 'mpi'), '--dashboard_address', ':0'), { timeoutMs: 90_000 });
    const context = describeJob(r);
    assert.equal(r.code, 0, context);
    assert.deepEqual(r.leftovers, [], context);
    assertNodesEmpty(box, context);
    assert.match(r.stdout, /<Client: 'tcp:\/\/10\.99\.0\.11:\d+' processes=6 /, `the client reached the scheduler on n1's ib0, with 6 workers\n${context}`);
    const rows = (out: string) => /time_saving_seconds: [\d.]+ \(([\d,]+) rows/.exec(out)?.[1];
    assert.ok(rows(local.stdout), describeJob(local));
    assert.equal(rows(r.stdout), rows(local.stdout), `row counts\n${context}`);
    const digests = (d: string) => Object.fromEntries(readdirSync(d).sort().map((f) => [f, createHash('sha256').update(readFileSync(join(d, f))).digest('hex')]));
    const want = digests(join(dir, 'local'));
    assert.ok(Object.keys(want).length >= 4, `LocalCluster wrote ${Object.keys(want).join(', ')}`);
    assert.deepEqual(digests(join(dir, 'mpi')), want, 'every Parquet file is byte for byte the same');
  });
});
