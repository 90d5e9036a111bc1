/**
 * Entry point of the processes a LocalCluster starts. It runs a scheduler, a
 * nanny or a worker, reports readiness over the IPC channel, and exits when its
 * parent goes away (the IPC channel disconnects), so a killed parent never
 * leaves orphans behind.
 */
import { SchedulerServer } from '../scheduler/server.js';
import { WorkerServer } from '../worker/server.js';
import type { ChildSpec } from './spawn.js';
import { InvalidArgumentError } from '../errors.js';
import { errorToInfo } from '../comm/comm.js';

const spec = JSON.parse(process.env.TESSERA_CHILD_SPEC ?? '{}') as ChildSpec;

function send(msg: unknown): void {
  if (process.send && process.connected) process.send(msg);
}

/** Closes this process's server (set once it runs). */
let closeServer: (() => Promise<void>) | null = null;
/**
 * The parent ended (its script finished without close(), it was killed) or
 * told us to stop: close the server, which removes its spill directory, and
 * leave within a few seconds whatever happens.
 */
function leave(): void {
  setTimeout(() => process.exit(0), 3_000).unref();
  if (!closeServer) process.exit(0);
  void closeServer().finally(() => process.exit(0));
}
process.on('disconnect', leave);
process.on('SIGTERM', leave);

async function main(): Promise<void> {
  if (spec.role === 'scheduler') {
    const s = await SchedulerServer.start(spec.options);
    closeServer = () => s.close('the cluster\'s process ended');
    process.on('message', (m: { type?: string }) => {
      if (m?.type === 'close') void s.close('cluster closed');
    });
    send({ type: 'ready', address: s.address, token: s.token, dashboardPort: s.dashboardPort, dashboardHost: s.dashboardHost, id: s.id });
    await s.finished;
  } else if (spec.role === 'worker') {
    const w = await WorkerServer.start(spec.options);
    closeServer = () => w.close();
    process.on('message', (m: { type?: string }) => {
      if (m?.type === 'close') void w.close();
    });
    if (spec.supervised) w.restartProcess = () => send({ type: 'restart' });
    send({ type: 'ready', address: w.address, name: w.name });
    await w.finished;
  } else if (spec.role === 'nanny') {
    // Loaded only here: schedulers and workers never need it.
    const [{ Nanny }, { createLogger }] = await Promise.all([import('../nanny/nanny.js'), import('../logging.js')]);
    const log = createLogger('nanny', spec.options.quiet && !process.env.TESSERA_LOG_LEVEL ? 'warn' : undefined);
    const n = await Nanny.start(spec.options, log);
    closeServer = () => n.close();
    process.on('message', (m: { type?: string }) => {
      if (m?.type === 'close') void n.close();
    });
    // The worker's address changes with every new process: keep LocalCluster.workers current.
    n.onWorkerStarted = (address) => send({ type: 'worker-address', address });
    send({ type: 'ready', address: n.address, name: n.name });
    await n.finished;
  } else {
    throw new InvalidArgumentError(`unknown child role in TESSERA_CHILD_SPEC`);
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  // `error` lets the parent rebuild a Tessera error as its own class, code and fields included.
  send({ type: 'error', message: (err as Error).message, code: (err as { code?: string }).code, error: errorToInfo(err) });
  console.error(err);
  process.exit(1);
});
