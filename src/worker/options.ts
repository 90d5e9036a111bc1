/** Options of a worker process, shared by the CLI, LocalCluster, MPI and Slurm layers. */
export interface WorkerOptions {
  /** Scheduler address 'tcp://host:port' (or give schedulerFile). */
  schedulerAddress?: string;
  /** Read the scheduler address and token from this file (waits for it to appear). */
  schedulerFile?: string;
  /** Auth token; read from the scheduler file or TESSERA_TOKEN when omitted. */
  token?: string;
  /** Name shown in schedulerInfo and used by `workers: [...]` restrictions; default the address. */
  name?: string;
  /** Executor threads (default 1). */
  nthreads?: number;
  /** Bytes, or a string like '4GB', or 'auto' (system memory / workers on the host); 0 = no limit. */
  memoryLimit?: number | string;
  /** Where spilled data goes (default os.tmpdir()/tessera-worker-<pid>). */
  localDirectory?: string;
  /** Interface whose IPv4 address is advertised. */
  interface?: string;
  /** Host/IP to listen on for peers. */
  host?: string;
  /** Port for peers (default 0 = any). */
  port?: number;
  /** Exit when the scheduler has been unreachable this long (default 60 s). */
  deathTimeoutMs?: number;
  /** Retire gracefully after this long (walltime-aware, Slurm). */
  lifetimeMs?: number;
  /** Quiet logs. */
  quiet?: boolean;
}
