/**
 * The wire's own speed: a plain Node TCP socket pair on loopback between two
 * processes, the receiver copying every chunk into one buffer of the
 * announced size (what a receiver of one large value must do). Run as a
 * child by run.ts: `node socket-pair.js BYTES COUNT` prints seconds and
 * the receiver's CPU seconds.
 */
import { createServer, connect } from 'node:net';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [, , bytesArg, countArg, role, portArg] = process.argv;
const bytes = Number(bytesArg);
const count = Number(countArg);

if (role === 'sender') {
  const payload = Buffer.alloc(bytes, 7);
  const s = connect({ host: '127.0.0.1', port: Number(portArg) }, () => {
    s.setNoDelay(true);
    for (let i = 0; i < count; i++) s.write(payload);
    s.end();
  });
} else {
  const server = createServer((sock) => {
    let buf = Buffer.allocUnsafe(bytes);
    let off = 0;
    let received = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    sock.on('data', (chunk: Buffer) => {
      let c = chunk;
      while (c.length) {
        const k = Math.min(c.length, bytes - off);
        c.copy(buf, off, 0, k);
        off += k;
        c = c.subarray(k);
        if (off === bytes) {
          received++;
          off = 0;
          if (received < count) buf = Buffer.allocUnsafe(bytes);
        }
      }
    });
    sock.on('end', () => {
      const cpu = process.cpuUsage(cpu0);
      console.log(((performance.now() - t0) / 1000).toFixed(6), ((cpu.user + cpu.system) / 1e6).toFixed(6));
      server.close();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    fork(fileURLToPath(import.meta.url), [String(bytes), String(count), 'sender', String(port)]);
  });
}
