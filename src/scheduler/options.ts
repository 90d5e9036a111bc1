/** Options of a scheduler process, shared by the CLI, LocalCluster, MPI and Slurm layers. */
export interface SchedulerOptions {
  /** Host/IP to bind; default '0.0.0.0' when an interface is named, else '127.0.0.1'. */
  host?: string;
  /** TCP port; 0 picks a free one (default 8786 for the CLI, 0 elsewhere). */
  port?: number;
  /** Network interface whose IPv4 address is advertised (e.g. 'ib0', 'eth0'). */
  interface?: string;
  /** Auth token every connection must present; generated when omitted. */
  token?: string;
  /** Write the scheduler file here (JSON, mode 0600, atomically). */
  schedulerFile?: string;
  /** Job id recorded in the scheduler file (SLURM_JOB_ID, OMPI/PMIx job ids). */
  jobId?: string;
  /** Serve the dashboard (default true). */
  dashboard?: boolean;
  /** Dashboard address, e.g. ':8787' (default), ':0' for any free port, '127.0.0.1:8787'. */
  dashboardAddress?: string;
  /** Seconds without a heartbeat before a worker is removed (default 60). */
  workerTtlMs?: number;
  /** How many worker deaths a task may be involved in before it errs (default 3). */
  allowedFailures?: number;
  /** Run consistency checks of the state machine after every batch of transitions (tests). */
  validate?: boolean;
  /** Quiet logs. */
  quiet?: boolean;
}
