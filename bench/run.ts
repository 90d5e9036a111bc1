/**
 * `npm run bench`: every benchmark, one after another, each in its own
 * process so one's memory and threads cannot skew the next. Pass names to run
 * only some: `npm run bench -- core mpi`. Extra flags after `--` go to each.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BENCHES: Record<string, { file: string; what: string }> = {
  core: { file: './core/tasks.js', what: 'scheduling throughput vs Dask (core runtime issue)' },
  mpi: { file: './mpi/startup.js', what: 'mpirun start-up and trivial-job wall time (MPI issue)' },
  etl: { file: './etl/run.js', what: 'NYC taxi prep throughput vs the engine alone and Dask (dataframe issue)' },
  transfer: { file: './transfer/run.js', what: 'worker-to-worker data transfer vs a plain socket pair and Dask (performance issue)' },
  'full-size': { file: './full-size/run.js', what: 'prep_nyctaxi on 24 GB of generated CSV, 2 workers, checked against an independent count (performance issue)' },
  shuffle: { file: './shuffle/run.js', what: 'P2P shuffle: a join and a many-group group-by over 2,000 partitions vs the task-based shuffle and Dask (issue 13)' },
  cluster: { file: './cluster/run.js', what: 'bytes/s of a dependency between two netns nodes vs a plain socket pair (multi-node issue; needs root)' },
};

const argv = process.argv.slice(2);
const names = argv.filter((a) => !a.startsWith('-') && a in BENCHES);
const flags = argv.filter((a) => !(a in BENCHES));
const chosen = names.length ? names : Object.keys(BENCHES);
let failed = 0;
for (const name of chosen) {
  const b = BENCHES[name]!;
  const file = fileURLToPath(new URL(b.file, import.meta.url));
  console.log(`\n=== ${name}: ${b.what}`);
  if (!existsSync(file)) {
    console.log(`(not built: ${file})`);
    failed++;
    continue;
  }
  const r = spawnSync(process.execPath, [file, ...flags], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.log(`${name} failed with status ${r.status}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
