/** `tessera-compute worker`: run one worker connected to a scheduler, until the scheduler closes it. */
import { WorkerServer } from '../worker/server.js';
import { parseFlags, intFlag, portFlag, strFlag, type CommandSpec } from './args.js';
import { InvalidArgumentError } from '../errors.js';
import { resolveWorkerOptions } from '../worker/options.js';

export const spec: CommandSpec = {
  usage: 'tessera-compute worker [SCHEDULER_ADDRESS] [options]',
  description: 'Start a Tessera worker and connect it to a scheduler, given as tcp://host:port (with TESSERA_TOKEN set)\n' +
    'or through --scheduler-file (which also carries the token). The worker exits when the scheduler shuts the\n' +
    'cluster down, or after --death-timeout seconds without reaching it.',
  flags: [
    { name: 'scheduler-file', type: 'string', metavar: 'FILE', help: 'read the scheduler address and token from this file (waits for it to appear)' },
    { name: 'nthreads', type: 'string', metavar: 'N', help: 'executor threads that run tasks', default: '1' },
    { name: 'memory-limit', type: 'string', metavar: 'BYTES', help: "memory limit: bytes, '4GB', '0.5' (fraction of RAM), 'auto', or 0 for none", default: 'auto' },
    { name: 'local-directory', type: 'string', metavar: 'DIR', help: 'where to spill data to disk (default: the OS temp directory)' },
    { name: 'name', type: 'string', metavar: 'NAME', help: 'worker name, used by `workers: [...]` restrictions (default: its address)' },
    { name: 'interface', type: 'string', metavar: 'IF', help: 'advertise the IPv4 address of this network interface (e.g. eth0, ib0)' },
    { name: 'host', type: 'string', metavar: 'HOST', help: 'address to listen on for peers' },
    { name: 'port', type: 'string', metavar: 'PORT', help: 'port for peers (0 = any)', default: '0' },
    { name: 'death-timeout', type: 'string', metavar: 'SECONDS', help: 'exit after this long without reaching the scheduler', default: '60' },
    { name: 'lifetime', type: 'string', metavar: 'SECONDS', help: 'retire gracefully after this long (e.g. before a batch job\'s walltime)' },
  ],
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, spec);
  if (!parsed) return 0;
  const f = parsed.flags;
  const address = parsed.positionals[0];
  if (parsed.positionals.length > 1) throw new InvalidArgumentError(`unexpected arguments: ${parsed.positionals.slice(1).join(' ')}`);
  if (!address && !strFlag(f, 'scheduler-file')) {
    throw new InvalidArgumentError('give the scheduler address (tcp://host:port) or --scheduler-file FILE; see --help');
  }
  const lifetime = intFlag(f, 'lifetime');
  const w = await WorkerServer.start(resolveWorkerOptions({
    ...(address ? { schedulerAddress: address } : {}),
    ...(strFlag(f, 'scheduler-file') ? { schedulerFile: strFlag(f, 'scheduler-file')! } : {}),
    nthreads: intFlag(f, 'nthreads', { min: 1 }) ?? 1,
    memoryLimit: strFlag(f, 'memory-limit') ?? 'auto',
    ...(strFlag(f, 'local-directory') ? { localDirectory: strFlag(f, 'local-directory')! } : {}),
    ...(strFlag(f, 'name') ? { name: strFlag(f, 'name')! } : {}),
    ...(strFlag(f, 'interface') ? { interface: strFlag(f, 'interface')! } : {}),
    ...(strFlag(f, 'host') ? { host: strFlag(f, 'host')! } : {}),
    port: portFlag(f, 'port') ?? 0,
    deathTimeoutMs: (intFlag(f, 'death-timeout', { min: 1 }) ?? 60) * 1000,
    ...(lifetime ? { lifetimeMs: lifetime * 1000 } : {}),
  }));
  // SIGTERM is how batch systems end a job (Slurm at the walltime): leave
  // gracefully, handing data to other workers. A second signal leaves at once.
  let signalled = false;
  const stop = (sig: string) => {
    if (signalled) return void w.close();
    signalled = true;
    void w.retire(`received ${sig}`);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop(sig));
  await w.finished;
  // A worker that lost its scheduler for good failed: batch systems and supervisors must see it.
  return w.gaveUp ? 1 : 0;
}
