/** `tessera-compute slurm job-script`: print the batch script a SlurmCluster submits for each worker. */
import { parseFlags, intFlag, strFlag, type CommandSpec } from './args.js';
import { InvalidArgumentError } from '../errors.js';
import { jobScript, defaultSchedulerFile, DEFAULT_JOB_NAME, DEFAULT_WALLTIME } from '../deploy/slurm/job-script.js';

export const jobScriptSpec: CommandSpec = {
  usage: 'tessera-compute slurm job-script [options]',
  description: 'Print the sbatch script that SlurmCluster submits for each worker job, with the same options\n' +
    '(repeat --job-extra-directive, --job-directives-skip and --prologue for several values).',
  flags: [
    { name: 'queue', type: 'string', metavar: 'PARTITION', help: 'partition (#SBATCH -p)' },
    { name: 'account', type: 'string', metavar: 'ACCOUNT', help: 'account to charge (#SBATCH -A)' },
    { name: 'cores', type: 'string', metavar: 'N', help: 'cores per job: --cpus-per-task and worker threads', default: '1' },
    { name: 'memory', type: 'string', metavar: 'SIZE', help: "memory per job, e.g. 4GB: --mem and the worker's memory limit" },
    { name: 'walltime', type: 'string', metavar: 'TIME', help: 'job walltime: minutes, HH:MM:SS or D-HH:MM:SS', default: DEFAULT_WALLTIME },
    { name: 'job-name', type: 'string', metavar: 'NAME', help: 'job name and worker name prefix', default: DEFAULT_JOB_NAME },
    { name: 'log-directory', type: 'string', metavar: 'DIR', help: "directory for the jobs' -o/-e files" },
    { name: 'job-extra-directive', type: 'string', metavar: 'DIRECTIVE', help: 'an extra #SBATCH line, e.g. --exclusive' },
    { name: 'job-directives-skip', type: 'string', metavar: 'TEXT', help: 'leave out generated directives containing TEXT, e.g. --mem' },
    { name: 'prologue', type: 'string', metavar: 'LINE', help: 'a shell line before the worker starts, e.g. "module load nodejs"' },
    { name: 'scheduler-file', type: 'string', metavar: 'FILE', help: 'scheduler file the workers read', default: defaultSchedulerFile() },
    { name: 'interface', type: 'string', metavar: 'IF', help: 'network interface the workers advertise (e.g. ib0)' },
    { name: 'local-directory', type: 'string', metavar: 'DIR', help: "where workers spill, e.g. '$TMPDIR'" },
    { name: 'lifetime', type: 'string', metavar: 'SECONDS', help: 'worker lifetime (default: walltime minus a margin)' },
    { name: 'lifetime-margin', type: 'string', metavar: 'SECONDS', help: 'retire this long before the walltime (default 10%, 30 s to 5 min)' },
    { name: 'death-timeout', type: 'string', metavar: 'SECONDS', help: 'worker exits after this long without the scheduler', default: '60' },
    { name: 'node-executable', type: 'string', metavar: 'PATH', help: 'node on the compute nodes', default: process.execPath },
    { name: 'tessera-command', type: 'string', metavar: 'PATH', help: "the tessera CLI (a .js file run with node, or an executable) (default: this package's)" },
  ],
  epilog: 'Example:\n  tessera-compute slurm job-script --queue normal --cores 8 --memory 32GB --walltime 02:00:00 \\\n' +
    '    --prologue "module load nodejs/20" --log-directory ~/tessera-logs',
};

const REPEATABLE = ['job-extra-directive', 'job-directives-skip', 'prologue'];

/** Pulls repeatable flags out before the shared parser (which keeps the last value only). */
function takeRepeated(argv: string[]): { rest: string[]; lists: Record<string, string[]> } {
  const lists: Record<string, string[]> = Object.fromEntries(REPEATABLE.map((n) => [n, []]));
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([\w-]+)(?:=(.*))?$/s.exec(a);
    if (m && REPEATABLE.includes(m[1]!)) {
      const v = m[2] ?? argv[++i];
      if (v === undefined) throw new InvalidArgumentError(`option --${m[1]} needs a value`);
      lists[m[1]!]!.push(v);
    } else rest.push(a);
  }
  return { rest, lists };
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    process.stdout.write('Usage: tessera-compute slurm <command> [options]\n\nCommands:\n  job-script  print the sbatch script a SlurmCluster submits for each worker\n');
    return sub ? 0 : 1;
  }
  if (sub !== 'job-script') throw new InvalidArgumentError(`unknown slurm command '${sub}'; the commands are: job-script`);
  const { rest: plain, lists } = takeRepeated(rest);
  const parsed = parseFlags(plain, jobScriptSpec);
  if (!parsed) return 0;
  if (parsed.positionals.length) throw new InvalidArgumentError(`unexpected arguments: ${parsed.positionals.join(' ')}`);
  const f = parsed.flags;
  const lifetime = intFlag(f, 'lifetime');
  const margin = intFlag(f, 'lifetime-margin');
  const cores = intFlag(f, 'cores');
  const str = (name: string) => strFlag(f, name);
  process.stdout.write(jobScript({
    ...(str('queue') ? { queue: str('queue')! } : {}),
    ...(str('account') ? { account: str('account')! } : {}),
    ...(cores !== undefined ? { cores } : {}),
    ...(str('memory') ? { memory: str('memory')! } : {}),
    walltime: str('walltime') ?? DEFAULT_WALLTIME,
    jobName: str('job-name') ?? DEFAULT_JOB_NAME,
    ...(str('log-directory') ? { logDirectory: str('log-directory')! } : {}),
    jobExtraDirectives: lists['job-extra-directive']!,
    jobDirectivesSkip: lists['job-directives-skip']!,
    jobScriptPrologue: lists.prologue!,
    schedulerFile: str('scheduler-file') ?? defaultSchedulerFile(),
    ...(str('interface') ? { interface: str('interface')! } : {}),
    ...(str('local-directory') ? { localDirectory: str('local-directory')! } : {}),
    ...(lifetime !== undefined ? { lifetime } : {}),
    ...(margin !== undefined ? { lifetimeMargin: margin } : {}),
    deathTimeout: intFlag(f, 'death-timeout') ?? 60,
    ...(str('node-executable') ? { nodeExecutable: str('node-executable')! } : {}),
    ...(str('tessera-command') ? { tesseraCommand: str('tessera-command')! } : {}),
  }));
  return 0;
}
