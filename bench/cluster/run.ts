/**
 * Bytes per second between two nodes: Tessera moving a 1 MiB, 64 MiB and
 * 512 MiB dependency from a worker on n1 to a worker on n2, next to a plain
 * Node socket pair on the same link, so the ratio to the wire shows.
 * The nodes are the multi-node tests' netns box (two network namespaces on
 * this machine joined by a bridge: the "wire" is veth + bridge, memory
 * speed, no NIC), which needs root.
 *
 *   npm run bench -- cluster [--runs 3] [--sizes 1,64,512] [--rate MBIT]
 *
 * --rate shapes both nodes' ib0 (tbf) to see the ratio on a slower link.
 * Issue target: Tessera at >= 80% of raw TCP for 64 MiB and up.
 */
import { type ChildProcess } from 'node:child_process';
import { loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsBox } from '../../test/fixtures/netns/box.js';
import { TESSERA_BIN } from '../../test/fixtures/package.js';

const args = process.argv.slice(2);
function arg(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}
const RUNS = arg('runs', '3');
const SIZES = arg('sizes', '1,64,512').split(',').map((m) => Number(m) * 1024 * 1024);
const RATE = arg('rate', '');
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

function lines(child: ChildProcess): Promise<string> {
  return new Promise((res, rej) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) res(out.split('\n')[0]!);
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => rej(new Error(`exited with ${code} before printing: ${err}`)));
  });
}

const box = NetnsBox.up({ nodes: 2, prefix: 'tnb' });
const [n1, n2] = box.nodes as [typeof box.nodes[0], typeof box.nodes[0]];
const started: ChildProcess[] = [];
try {
  if (RATE) for (const n of box.nodes) box.shape(n, { rateMbit: Number(RATE) });
  console.log(`two netns nodes, ib0 ${n1.ip.ib0} -> ${n2.ip.ib0}${RATE ? `, shaped to ${RATE} Mbit/s` : ' (veth + bridge, unshaped)'}; ` +
    `${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} before; best of ${RUNS} runs`);

  // The wire: a Node socket pair, n1 -> n2.
  const server = box.spawn(n2, process.execPath, [here('./socket.js'), 'server', n2.ip.ib0], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(server);
  const port = await lines(server);
  const raw = box.run(n1, process.execPath, [here('./socket.js'), 'client', n2.ip.ib0, port, SIZES.join(','), RUNS], { timeoutMs: 300_000 });
  if (raw.code !== 0) throw new Error(`socket pair failed: ${raw.stderr}`);
  const wire = JSON.parse(raw.stdout) as Record<string, number>;
  server.kill();

  // Tessera: scheduler and worker 'a' on n1, worker 'b' on n2, the client on n1.
  const dir = box.dir;
  const file = join(dir, 'scheduler.json');
  const tessera = (node: typeof n1, a: string[]) => {
    const c = box.spawn(node, process.execPath, [TESSERA_BIN, ...a], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TESSERA_LOG_LEVEL: 'warn' } });
    started.push(c);
  };
  tessera(n1, ['scheduler', '--interface', 'ib0', '--port', '0', '--no-dashboard', '--scheduler-file', file]);
  tessera(n1, ['worker', '--scheduler-file', file, '--interface', 'ib0', '--name', 'a', '--memory-limit', '0']);
  tessera(n2, ['worker', '--scheduler-file', file, '--interface', 'ib0', '--name', 'b', '--memory-limit', '0']);
  const t = box.run(n1, process.execPath, [here('./client.js'), file, SIZES.join(','), RUNS], { timeoutMs: 600_000 });
  if (t.code !== 0) throw new Error(`Tessera client failed: ${t.stderr}`);
  const res = JSON.parse(t.stdout.trim().split('\n').pop()!) as { roundTripMs: number; ms: Record<string, number> };

  const mb = (x: number) => (Number.isFinite(x) && x > 0 ? `${(x / 1e6).toFixed(0)} MB/s` : 'n/a');
  console.log(`task round trip with an 8-byte input: ${res.roundTripMs.toFixed(1)} ms`);
  console.log('dependency | Tessera n1->n2 (whole task) | Tessera, less the round trip | socket pair n1->n2 | Tessera / wire (whole, less round trip)');
  for (const size of SIZES) {
    const whole = size / (res.ms[size]! / 1000);
    const net = res.ms[size]! > res.roundTripMs ? size / ((res.ms[size]! - res.roundTripMs) / 1000) : NaN;
    const w = wire[size]!;
    const pct = (x: number) => (Number.isFinite(x) ? `${((x / w) * 100).toFixed(0)}%` : 'n/a');
    console.log(`${size / 1024 / 1024} MiB | ${mb(whole)} (${res.ms[size]!.toFixed(0)} ms) | ${mb(net)} | ${mb(w)} | ${pct(whole)}, ${pct(net)}`);
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  const left = box.down();
  if (left.length) console.log(`killed on the nodes: ${left.join('; ')}`);
}
