/** `tessera-compute scheduler`: run a scheduler until a client shuts it down or it gets SIGINT/SIGTERM. */
import { SchedulerServer } from '../scheduler/server.js';
import { tuneSchedulerProcess } from '../deploy/scheduler-process.js';
import { addressFlag, parseFlags, intFlag, portFlag, strFlag, onTerminationSignal, type CommandSpec } from './args.js';

export const spec: CommandSpec = {
  usage: 'tessera-compute scheduler [options]',
  description: 'Start a Tessera scheduler. Workers connect with `tessera-compute worker --scheduler-file F` (or the address it\n' +
    'prints) and clients with Client.connect({ schedulerFile: F }). The auth token is taken from TESSERA_TOKEN or\n' +
    'generated; it is written into the scheduler file, which is created with mode 0600.',
  flags: [
    { name: 'host', type: 'string', metavar: 'HOST', help: 'address to listen on; 0.0.0.0 listens everywhere and advertises this host\'s IP', default: '127.0.0.1' },
    { name: 'port', type: 'string', metavar: 'PORT', help: 'TCP port for workers and clients (0 = any free port)', default: '8786' },
    { name: 'interface', type: 'string', metavar: 'IF', help: 'listen on and advertise the IPv4 address of this network interface (e.g. eth0, ib0)' },
    { name: 'scheduler-file', type: 'string', metavar: 'FILE', help: 'write the address and token here (JSON), replacing any stale file' },
    { name: 'dashboard', type: 'boolean', negatable: true, help: 'serve the web dashboard', default: true },
    { name: 'dashboard-address', type: 'string', metavar: 'ADDR', help: 'dashboard address, e.g. :8787, :0 (any free port), 127.0.0.1:8787', default: ':8787' },
    { name: 'worker-ttl', type: 'string', metavar: 'SECONDS', help: 'remove a worker after this long without a heartbeat', default: '60' },
    { name: 'allowed-failures', type: 'string', metavar: 'N', help: 'worker deaths a task may be involved in before it errs', default: '3' },
    { name: 'job-id', type: 'string', metavar: 'ID', help: 'job id recorded in the scheduler file (default: SLURM_JOB_ID if set)' },
  ],
  epilog: 'Example:\n  tessera-compute scheduler --scheduler-file ~/scheduler.json\n  tessera-compute worker --scheduler-file ~/scheduler.json --nthreads 2',
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, spec);
  if (!parsed) return 0;
  const f = parsed.flags;
  const jobId = strFlag(f, 'job-id') ?? process.env.SLURM_JOB_ID;
  tuneSchedulerProcess(); // this process runs only the scheduler
  const s = await SchedulerServer.start({
    ...(strFlag(f, 'host') ? { host: strFlag(f, 'host')! } : {}),
    port: portFlag(f, 'port') ?? 8786,
    ...(strFlag(f, 'interface') ? { interface: strFlag(f, 'interface')! } : {}),
    ...(strFlag(f, 'scheduler-file') ? { schedulerFile: strFlag(f, 'scheduler-file')! } : {}),
    dashboard: f.dashboard !== false,
    dashboardAddress: addressFlag(f, 'dashboard-address') ?? ':8787',
    workerTtlMs: (intFlag(f, 'worker-ttl', { min: 1 }) ?? 60) * 1000,
    allowedFailures: intFlag(f, 'allowed-failures') ?? 3,
    ...(jobId ? { jobId } : {}),
  });
  if (!strFlag(f, 'scheduler-file') && !process.env.TESSERA_TOKEN) {
    process.stderr.write(`To connect without a scheduler file, set TESSERA_TOKEN=${s.token}\n`);
  }
  onTerminationSignal((sig) => void s.close(`received ${sig}`));
  await s.finished;
  return 0;
}
