/**
 * The wire's speed, for bench/cluster: a plain Node socket pair, no Tessera.
 *   node socket.js server HOST            listens on HOST:0, prints the port, then per connection
 *                                          reads an 8-byte length and that many bytes, answers 'k'
 *   node socket.js client HOST PORT SIZES RUNS   sends each size RUNS times, prints JSON bytes/s (best run)
 */
import { connect, createServer, type Socket } from 'node:net';

const [mode, host, ...rest] = process.argv.slice(2);

if (mode === 'server') {
  const server = createServer((s) => {
    let want = -1;
    let got = 0;
    let head = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      if (want < 0) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 8) return;
        want = Number(head.readBigUInt64LE(0));
        chunk = head.subarray(8);
      }
      got += chunk.length;
      if (got >= want) {
        s.write('k');
        want = -1;
        got = 0;
        head = Buffer.alloc(0);
      }
    });
    s.on('error', () => {});
  });
  server.listen(0, host, () => console.log((server.address() as { port: number }).port));
  setTimeout(() => process.exit(0), 600_000).unref();
} else {
  const [port, sizes, runs] = rest;
  const socket: Socket = await new Promise((res, rej) => {
    const s = connect(Number(port), host!, () => res(s));
    s.once('error', rej);
  });
  socket.setNoDelay(true);
  const acks: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length; i++) acks.shift()?.();
  });
  const out: Record<string, number> = {};
  for (const size of sizes!.split(',').map(Number)) {
    const payload = Buffer.alloc(size, 7);
    let best = Infinity;
    for (let r = 0; r < Number(runs); r++) {
      const head = Buffer.alloc(8);
      head.writeBigUInt64LE(BigInt(size));
      const t = performance.now();
      const acked = new Promise<void>((res) => acks.push(res));
      socket.write(head);
      socket.write(payload);
      await acked;
      best = Math.min(best, performance.now() - t);
    }
    out[size] = size / (best / 1000);
  }
  console.log(JSON.stringify(out));
  socket.destroy();
}
