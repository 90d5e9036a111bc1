/**
 * `tessera-compute mpi`: a whole cluster from one `mpirun`/`srun` command, with the
 * flags of dask-mpi's `dask-mpi` command. The scheduler runs on
 * --scheduler-rank (0), every other rank runs a worker named `NAME-RANK`;
 * clients connect through --scheduler-file. With --no-scheduler the ranks
 * add workers to a cluster that already runs (its SCHEDULER_ADDRESS or
 * --scheduler-file).
 */
import { InvalidArgumentError } from '../errors.js';
import type { SchedulerOptions } from '../scheduler/options.js';
import { resolveWorkerOptions, type WorkerOptions } from '../worker/options.js';
import { addressFlag, formatHelp, intFlag, parseFlags, type CommandSpec, type ParsedFlags } from './args.js';
import type { MpiCommandOptions } from '../deploy/mpi/command.js';

export const DEFAULT_NAME = 'tessera-mpi';

export const spec: CommandSpec = {
  usage: 'mpirun -np N tessera-compute mpi [SCHEDULER_ADDRESS] [options]',
  description:
    'Run a Tessera cluster on the ranks of an MPI job (mpirun, mpiexec, srun): the scheduler on --scheduler-rank,\n' +
    'a worker on every other rank (named NAME-RANK). Clients connect through the scheduler file, e.g.\n' +
    "Client.connect({ schedulerFile: 'scheduler.json' }). The job ends when a client calls shutdown().\n" +
    'With --no-scheduler, the ranks add workers to a cluster that already runs, found through SCHEDULER_ADDRESS\n' +
    '(with TESSERA_TOKEN set) or --scheduler-file.',
  flags: [
    { name: 'scheduler-file', type: 'string', metavar: 'FILE', help: 'write the scheduler address and token here (JSON, mode 0600); with --no-scheduler, read them from here' },
    { name: 'scheduler-port', type: 'string', metavar: 'PORT', help: 'port of the scheduler (0 = any free port)', default: '0' },
    { name: 'scheduler-rank', type: 'string', metavar: 'RANK', help: 'MPI rank that runs the scheduler', default: '0' },
    { name: 'interface', type: 'string', metavar: 'IF', help: 'network interface whose IPv4 address is advertised, e.g. ib0 or eth0' },
    { name: 'protocol', type: 'string', metavar: 'PROTOCOL', help: 'network protocol (only tcp)', default: 'tcp' },
    { name: 'nthreads', type: 'string', metavar: 'N', help: 'executor threads per worker', default: '1' },
    { name: 'memory-limit', type: 'string', metavar: 'LIMIT', help: "worker memory limit: bytes, '4GB', a fraction of RAM like 0.5, 'auto', or 0 for none", default: 'auto' },
    { name: 'local-directory', type: 'string', metavar: 'DIR', help: 'where workers spill data to disk (default: the OS temp directory)' },
    { name: 'scheduler', type: 'boolean', negatable: true, help: 'run a scheduler; --no-scheduler adds workers to a running cluster', default: true },
    { name: 'nanny', type: 'boolean', negatable: true, help: 'run each worker under a nanny that restarts it when it dies', default: false },
    { name: 'exclusive-workers', type: 'boolean', negatable: true, help: 'workers only on ranks other than the scheduler\'s; --inclusive-workers also runs one on the scheduler\'s rank', default: true },
    { name: 'worker-options', type: 'string', metavar: 'JSON', help: 'extra worker options as a JSON object, e.g. \'{"lifetimeMs": 3600000}\'' },
    { name: 'dashboard', type: 'boolean', negatable: true, help: 'serve the dashboard on the scheduler', default: true },
    { name: 'dashboard-address', type: 'string', metavar: 'ADDR', help: "dashboard address, e.g. ':8787', ':0' for any free port, '127.0.0.1:8787'", default: ':8787' },
    { name: 'name', type: 'string', metavar: 'PREFIX', help: 'worker name prefix; workers are named PREFIX-RANK', default: DEFAULT_NAME },
    { name: 'unreachable-after', type: 'string', metavar: 'SECONDS', help: 'count a rank whose node stops answering on the network as gone after this long (at least 11)', default: '30' },
  ],
  epilog:
    'Examples:\n' +
    '  mpirun -np 8 tessera-compute mpi --scheduler-file scheduler.json --interface ib0\n' +
    '  srun -n 32 tessera-compute mpi --scheduler-file $HOME/scheduler.json --memory-limit 8GB --local-directory /tmp\n' +
    '  mpirun -np 4 tessera-compute mpi --no-scheduler --scheduler-file scheduler.json --name more   # grow a running cluster\n' +
    '\n' +
    'Every rank must run the same MPI library as the launcher; set TESSERA_MPI_LIB=/path/to/libmpi.so to choose it.',
};

/** dask-mpi spells the negation of --exclusive-workers as --inclusive-workers. */
function normaliseArgv(argv: string[]): string[] {
  return argv.map((a) => (a === '--inclusive-workers' ? '--no-exclusive-workers' : a));
}

export function helpText(): string {
  return formatHelp(spec).replace('--exclusive-workers/--no-exclusive-workers', '--exclusive-workers/--inclusive-workers');
}

function intOption(flags: ParsedFlags, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = intFlag(flags, name, { min, max });
  if (n === undefined) throw new InvalidArgumentError(`--${name} needs a value`);
  return n;
}

function str(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Parses and validates `tessera-compute mpi`'s arguments. Returns null when --help
 * was asked for (after printing it); throws InvalidArgumentError (code
 * ERR_TESSERA_INVALID_ARGUMENT) for anything wrong, saying what to fix.
 */
export function parseMpiArgs(argv: string[]): MpiCommandOptions | null {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText());
    return null;
  }
  const parsed = parseFlags(normaliseArgv(argv), spec);
  if (!parsed) return null;
  const { flags, positionals } = parsed;
  if (positionals.length > 1) throw new InvalidArgumentError(`expected at most one SCHEDULER_ADDRESS, got: ${positionals.join(' ')}`);
  const schedulerAddress = positionals[0];
  const scheduler = flags.scheduler !== false;
  const schedulerFile = str(flags, 'scheduler-file');

  if (schedulerAddress !== undefined && !/^tcp:\/\/[^/\s]+:\d+$/.test(schedulerAddress)) {
    throw new InvalidArgumentError(`SCHEDULER_ADDRESS must look like tcp://host:port, got '${schedulerAddress}'`);
  }
  if (scheduler && schedulerAddress !== undefined) {
    throw new InvalidArgumentError(
      `a SCHEDULER_ADDRESS (${schedulerAddress}) is only used with --no-scheduler, to add workers to a running cluster; ` +
        'drop it to start a new cluster, or add --no-scheduler',
    );
  }
  if (!scheduler && schedulerAddress === undefined && schedulerFile === undefined) {
    throw new InvalidArgumentError('--no-scheduler adds workers to a running cluster: give its SCHEDULER_ADDRESS or --scheduler-file');
  }

  const protocol = str(flags, 'protocol') ?? 'tcp';
  if (protocol !== 'tcp') throw new InvalidArgumentError(`--protocol ${protocol} is not supported; Tessera speaks tcp only`);

  let workerOptions: Record<string, unknown> = {};
  const rawOptions = str(flags, 'worker-options');
  if (rawOptions !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(rawOptions);
    } catch (err) {
      throw new InvalidArgumentError(`--worker-options must be a JSON object, e.g. '{"nthreads": 2}': ${(err as Error).message}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new InvalidArgumentError(`--worker-options must be a JSON object, e.g. '{"nthreads": 2}', got ${rawOptions}`);
    }
    workerOptions = value as Record<string, unknown>;
  }

  const name = str(flags, 'name') ?? DEFAULT_NAME;
  if (/\s/.test(name)) throw new InvalidArgumentError(`--name must not contain spaces, got '${name}'`);
  // Checked with the worker's own parser, which owns the format: every rank refuses a bad size alike, before any worker starts.
  const memoryLimit = str(flags, 'memory-limit') ?? 'auto';
  resolveWorkerOptions({ memoryLimit }, { memoryLimit: '--memory-limit' });

  const options: MpiCommandOptions = {
    schedulerPort: intOption(flags, 'scheduler-port', 0, 65535),
    schedulerRank: intOption(flags, 'scheduler-rank', 0),
    protocol: 'tcp',
    nthreads: intOption(flags, 'nthreads', 1),
    memoryLimit,
    scheduler,
    nanny: flags.nanny === true,
    exclusiveWorkers: flags['exclusive-workers'] !== false,
    workerOptions,
    dashboard: flags.dashboard !== false,
    dashboardAddress: addressFlag(flags, 'dashboard-address') ?? ':8787',
    name,
    unreachableAfterMs: intOption(flags, 'unreachable-after', 11) * 1000,
  };
  if (schedulerAddress !== undefined) options.schedulerAddress = schedulerAddress;
  if (schedulerFile !== undefined) options.schedulerFile = schedulerFile;
  const iface = str(flags, 'interface');
  if (iface !== undefined) options.interface = iface;
  const localDirectory = str(flags, 'local-directory');
  if (localDirectory !== undefined) options.localDirectory = localDirectory;
  return options;
}

export async function run(argv: string[]): Promise<number> {
  const options = parseMpiArgs(argv);
  if (!options) return 0;
  const { runMpiCommand } = await import('../deploy/mpi/command.js');
  return runMpiCommand(options);
}
