/**
 * Tessera's side of bench/cluster, run on n1 of the box: a dependency made
 * on worker 'a' (n1) and used by a task pinned to worker 'b' (n2), so its
 * bytes cross the link once. Reports the consumer's whole time (submit to
 * result: the task round trip plus the transfer) and the round trip of the
 * same consumer with an 8-byte input, so the transfer alone can be told.
 *   node client.js SCHEDULER_FILE SIZES RUNS    prints JSON ms (best run)
 */
import fs from 'node:fs';
import { Client } from 'tessera-compute';

const [file, sizes, runs] = process.argv.slice(2) as [string, string, string];
for (const deadline = Date.now() + 30_000; !fs.existsSync(file);) {
  if (Date.now() > deadline) throw new Error(`no scheduler file at ${file} within 30 s`);
  await new Promise((r) => setTimeout(r, 100));
}
const client = await Client.connect({ schedulerFile: file }, { timeoutMs: 30_000 });
await client.waitForWorkers(2, { timeoutMs: 30_000 });

async function transferMs(size: number, run: number): Promise<number> {
  const made = client.submit({ fn: (n: number, r: number) => new Uint8Array(n).fill(r & 0xff), args: [size, run], workers: ['a'], pure: false });
  await client.submit({ fn: (b: Uint8Array) => b.length, args: [made], workers: ['a'], pure: false }).result();
  const t = performance.now();
  const n = await client.submit({ fn: (b: Uint8Array) => b.length, args: [made], workers: ['b'], pure: false }).result();
  const ms = performance.now() - t;
  if (n !== size) throw new Error(`got ${n} bytes, wanted ${size}`);
  client.release([made]);
  return ms;
}

let roundTrip = Infinity;
for (let r = 0; r < 5; r++) roundTrip = Math.min(roundTrip, await transferMs(8, r));
const out: Record<string, number> = {};
for (const size of sizes.split(',').map(Number)) {
  let best = Infinity;
  for (let r = 0; r < Number(runs); r++) best = Math.min(best, await transferMs(size, r));
  out[size] = best;
}
console.log(JSON.stringify({ roundTripMs: roundTrip, ms: out }));
await client.shutdown();
