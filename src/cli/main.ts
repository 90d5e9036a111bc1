#!/usr/bin/env node
/**
 * The `tessera-compute` command. Each subcommand lives in its own module exporting
 * `run(argv): Promise<number>` (the exit code); this file only dispatches, so
 * adding a subcommand never touches another's code.
 */
interface Subcommand {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

const subcommands: Record<string, Subcommand> = {
  scheduler: { summary: 'run a scheduler', load: () => import('./scheduler.js') },
  worker: { summary: 'run a worker connected to a scheduler', load: () => import('./worker.js') },
  mpi: { summary: 'run a whole cluster under mpirun/srun (rank 0 scheduler, others workers)', load: () => import('./mpi.js') },
  slurm: { summary: 'Slurm helpers: print the job script a SlurmCluster submits (job-script)', load: () => import('./slurm.js') },
  'demo-data': { summary: 'generate NYC-taxi-like CSV files for demos and benchmarks', load: () => import('./demo-data.js') },
};

function usage(): string {
  const width = Math.max(...Object.keys(subcommands).map((k) => k.length));
  const lines = Object.entries(subcommands).map(([name, s]) => `  ${name.padEnd(width)}  ${s.summary}`);
  return `Usage: tessera-compute <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'tessera-compute <command> --help' for the options of a command.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  if (name === '--version') {
    const { VERSION } = await import('../version.js');
    console.log(VERSION);
    return 0;
  }
  const sub = subcommands[name];
  if (!sub) {
    console.error(`tessera-compute: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const mod = await sub.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    // Typed Tessera errors carry a user-facing message; anything else is a bug: show the stack.
    if (typeof e?.code === 'string' && e.code.startsWith('ERR_TESSERA')) console.error(`tessera-compute: ${e.message}`);
    else console.error(err);
    process.exitCode = 1;
  },
);
