/**
 * Every Tessera error, in one place: the classes, and one table of their
 * stable codes (ERROR_CODES) saying when each happens and what to do. In the
 * style of undici and fastify, callers branch on `err.code` (or a typed
 * field such as `reason`), never on message text, and docs/errors.md lists
 * the same codes (test/unit/errors.test.ts keeps the two in step).
 *
 * Errors that cross the wire (a request the scheduler refused, a task that
 * killed its workers) are rebuilt on the receiving side as their own class
 * by `rebuildError`, from the class name and code they travelled with.
 */

/** Which docs/errors.md section an entry belongs to. */
export type ErrorGroup = 'connection' | 'tasks' | 'usage' | 'deployment' | 'dataframe' | 'dashboard' | 'internal';

/** One row of the error table. */
export interface ErrorCodeEntry {
  /**
   * The class thrown with this code; a code seen on the wire without a
   * known class name is rebuilt as this one.
   */
  readonly error: ErrorClassName;
  /** Other classes (subclasses, or wrappers that keep a cause's code) thrown with this code. */
  readonly also?: readonly ErrorClassName[];
  readonly group: ErrorGroup;
  /** When it happens. */
  readonly when: string;
  /** What to do about it. */
  readonly action: string;
}

/**
 * The error table: every code Tessera throws. Codes are public API: they
 * never change meaning and are never reused; new situations get new codes.
 */
export const ERROR_CODES = {
  // ---------------------------------------------------------- connection
  ERR_TESSERA_CONNECT: {
    error: 'TesseraError', group: 'connection',
    when: 'Nothing accepts connections at the address, a process exited while starting (one that failed with a Tessera error of its own passes on that error and its code instead), or the port to listen on is taken.',
    action: 'Check that the scheduler runs and the address (or scheduler file) is current; choose another port, or 0 for any free one.',
  },
  ERR_TESSERA_HANDSHAKE: {
    error: 'HandshakeError', group: 'connection',
    when: 'The other side of a connection is not a Tessera process of the expected role or protocol version.',
    action: 'Point the client or worker at a Tessera scheduler, and run the same tessera-compute version on every process.',
  },
  ERR_TESSERA_AUTH: {
    error: 'HandshakeError', also: ['TesseraError'], group: 'connection',
    when: 'The auth token is missing or does not match the cluster\'s.',
    action: 'Pass the cluster\'s scheduler file, or set TESSERA_TOKEN to its token.',
  },
  ERR_TESSERA_CONNECTION_CLOSED: {
    error: 'ConnectionClosedError', also: ['TesseraError'], group: 'connection',
    when: 'A connection closed while a request was waiting for its answer, or a closed client was used.',
    action: 'Connect again; if the scheduler went away, look at its log for why.',
  },
  ERR_TESSERA_TIMEOUT: {
    error: 'TimeoutError', also: ['CheckInTimeoutError', 'TesseraError'], group: 'connection',
    when: 'An answer, a start-up or an MPI check-in did not come within its time limit.',
    action: 'Look at the process that did not answer (its log names the cause); raise the timeout if it is only slow.',
  },
  ERR_TESSERA_PROTOCOL: {
    error: 'ProtocolError', group: 'connection',
    when: 'A message on a connection is malformed: an unknown op, a bad frame header, data that does not decode.',
    action: 'Run the same tessera-compute version on every process; if they match, report it as a bug.',
  },
  ERR_TESSERA_FRAME_TOO_LARGE: {
    error: 'FrameTooLargeError', group: 'connection',
    when: 'One message is larger than maxFrameBytes.',
    action: 'Split the data into smaller pieces (more partitions), or raise maxFrameBytes on every process.',
  },
  ERR_TESSERA_INTERFACE: {
    error: 'TesseraError', group: 'connection',
    when: 'The network interface given (interface, --interface) does not exist or has no IPv4 address.',
    action: 'Use one of the interfaces the message lists.',
  },
  // ---------------------------------------------------------- tasks
  ERR_TESSERA_TASK_FAILED: {
    error: 'TaskError', group: 'tasks',
    when: 'A task threw. The message has the remote error; err.remoteName, err.remoteStack and err.fields (or err.thrown) keep the rest.',
    action: 'Fix the task; err.remoteStack shows where on the worker it failed.',
  },
  ERR_TESSERA_KILLED_WORKER: {
    error: 'KilledWorkerError', group: 'tasks',
    when: 'A task was running on more workers that died than allowedFailures allows (err.key, err.attempts, err.lastWorker).',
    action: 'It probably crashes its process or exceeds the memory limit: check the worker logs, reduce its memory use, or raise allowedFailures.',
  },
  ERR_TESSERA_CANCELLED: {
    error: 'CancelledError', group: 'tasks',
    when: 'The result of a cancelled future was asked for (err.key).',
    action: 'Submit the computation again if it is still wanted.',
  },
  ERR_TESSERA_MISSING_DATA: {
    error: 'MissingDataError', also: ['TesseraError'], group: 'tasks',
    when: 'A value is gone: its future was released, scattered data was lost with its worker, or results could not be fetched (err.reason says which).',
    action: 'Keep a future while it is needed; scatter lost data again; for fetch failures, check that the workers are alive.',
  },
  ERR_TESSERA_CLOSURE: {
    error: 'ClosureError', group: 'tasks',
    when: 'An inline function uses variables, this, super or import.meta from the scope it was defined in (err.variables lists them).',
    action: 'Pass what it uses as arguments of the task, or ship a module function with remoteModule().',
  },
  ERR_TESSERA_FUNCTION: {
    error: 'FunctionError', group: 'tasks',
    when: 'A function cannot be shipped (native, bound, a class) or loaded on a worker (its module fails to import or lacks the export).',
    action: 'Use a plain function or remoteModule(); make the module importable on the workers.',
  },
  ERR_TESSERA_SERIALIZE: {
    error: 'TesseraError', group: 'tasks',
    when: 'Arguments or a result cannot be serialized: they contain a function, a symbol or another value that is not data.',
    action: 'Send data only; the message names where in the value the problem is.',
  },
  // ---------------------------------------------------------- usage
  ERR_TESSERA_INVALID_ARGUMENT: {
    error: 'InvalidArgumentError', also: ['TesseraError'], group: 'usage',
    when: 'An option or argument has a wrong type or value.',
    action: 'Fix the value the message names.',
  },
  ERR_TESSERA_NO_CLIENT: {
    error: 'TesseraError', group: 'usage',
    when: 'Something needs a connected client (compute(), a dataframe) and none is connected.',
    action: 'Call await Client.connect(cluster) first.',
  },
  ERR_TESSERA_SCHEDULER_FILE: {
    error: 'SchedulerFileError', also: ['TesseraError'], group: 'usage',
    when: 'A scheduler file is missing, not valid JSON, not a scheduler file, from another job, or stale (err.reason says which).',
    action: 'Start the scheduler first, put the file on a file system every node shares, or delete a stale file (use a per-job name such as scheduler-{jobId}.json).',
  },
  // ---------------------------------------------------------- deployment
  ERR_TESSERA_MPI: {
    error: 'MpiError', also: ['BootstrapFailedError'], group: 'deployment',
    when: 'libmpi cannot be found or loaded, does not match the launcher, an MPI call failed, or another rank failed while the cluster started.',
    action: 'Set TESSERA_MPI_LIB to the libmpi of your mpirun or srun; for a rank that failed, read that rank\'s output.',
  },
  ERR_TESSERA_WORLD_TOO_SMALL: {
    error: 'WorldTooSmallError', group: 'deployment',
    when: 'An MPI job or Slurm step has fewer ranks than the scheduler, client and workers need (err.required, err.actual).',
    action: 'Launch more processes (mpirun -np N, srun -n N); the message lists the other ways out.',
  },
  ERR_TESSERA_SLURM: {
    error: 'SlurmError', group: 'deployment',
    when: 'Not inside a Slurm job step, a Slurm variable is missing or malformed, or a Slurm command failed.',
    action: 'Run the program with srun inside a job (sbatch or salloc); the message names what is missing.',
  },
  ERR_TESSERA_INSTALL: {
    error: 'TesseraError', group: 'deployment',
    when: 'The package\'s own files are missing or out of date (a bundle without an expected entry point). Thrown by the loader outside the bundle, so it is a plain Error with this code.',
    action: 'Reinstall tessera-compute (npm ci), or rebuild it (npm run build) in a checkout.',
  },
  // ---------------------------------------------------------- dataframe
  ERR_TESSERA_DATAFRAME: {
    error: 'DataFrameError', also: ['QueryError'], group: 'dataframe',
    when: 'A dataframe operation cannot run as asked: a missing or unparsable file, conflicting schemas, a query syntax error, an unknown column.',
    action: 'Fix the input the message names (for query strings, err.position marks the spot).',
  },
  ERR_TESSERA_ENGINE: {
    error: 'EngineError', group: 'dataframe',
    when: 'The dataframe engine (Polars) is missing, cannot load on this platform, or failed inside a partition.',
    action: 'Run npm ci so nodejs-polars installs for this platform; otherwise the message carries Polars\' own error.',
  },
  // ---------------------------------------------------------- dashboard
  ERR_TESSERA_DASHBOARD_PORT_IN_USE: {
    error: 'DashboardError', group: 'dashboard',
    when: 'The dashboard\'s port is taken.',
    action: 'Choose another dashboard port (or 0 for any free one); launchers retry on another port by themselves.',
  },
  ERR_TESSERA_DASHBOARD: {
    error: 'DashboardError', group: 'dashboard',
    when: 'The dashboard cannot bind its address, or its web assets are missing.',
    action: 'Check the dashboard address; reinstall the package if assets are missing.',
  },
  // ---------------------------------------------------------- internal
  ERR_TESSERA_INVALID_STATE: {
    error: 'InvalidStateError', group: 'internal',
    when: 'The scheduler\'s state machine broke one of its invariants or was asked for an impossible transition.',
    action: 'This is a bug in Tessera: report it with the message and the scheduler log.',
  },
} as const satisfies Record<`ERR_TESSERA_${string}`, ErrorCodeEntry>;

export type TesseraErrorCode = keyof typeof ERROR_CODES;

/** True for a code in the table (a string from the wire or from an unknown error). */
export function isTesseraErrorCode(code: unknown): code is TesseraErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

export class TesseraError extends Error {
  readonly code: TesseraErrorCode;
  constructor(code: TesseraErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A malformed message, an unknown op, a frame header that makes no sense. */
export class ProtocolError extends TesseraError {
  constructor(message: string) {
    super('ERR_TESSERA_PROTOCOL', message);
  }
}

export class FrameTooLargeError extends TesseraError {
  /** `key`: the result that is too large, when one is known. */
  constructor(size: number, limit: number, key?: string) {
    super(
      'ERR_TESSERA_FRAME_TOO_LARGE',
      `${key ? `the result of ${key} holds` : 'a frame of'} ${size} bytes, over the limit of ${limit} bytes for one piece of a message; split the data into smaller pieces ` +
        `(e.g. more partitions) or raise maxFrameBytes on every process of the cluster`,
    );
  }
}

export class HandshakeError extends TesseraError {
  constructor(message: string, code: 'ERR_TESSERA_HANDSHAKE' | 'ERR_TESSERA_AUTH' = 'ERR_TESSERA_HANDSHAKE') {
    super(code, message);
  }
}

export class ConnectionClosedError extends TesseraError {
  constructor(message: string) {
    super('ERR_TESSERA_CONNECTION_CLOSED', message);
  }
}

export class TimeoutError extends TesseraError {
  constructor(message: string) {
    super('ERR_TESSERA_TIMEOUT', message);
  }
}

/** What a task threw beyond name, message and stack (see ErrorInfo). */
export interface ThrownDetails {
  readonly fields?: Readonly<Record<string, unknown>>;
  readonly thrown?: { readonly value: unknown };
}

/**
 * A task raised. Re-created on the client with the remote error's name,
 * message and stack, so `err.stack` shows where on the worker it failed.
 * `fields` holds the thrown value's own fields (an Error subclass's `code`
 * or `row`, a thrown object's properties); when the task threw something
 * that is not an Error (`throw { code: 42 }`), `thrown` is that value.
 */
export class TaskError extends TesseraError {
  readonly key: string;
  readonly remoteName: string;
  readonly remoteStack: string;
  readonly fields: Readonly<Record<string, unknown>>;
  /** The value thrown when it was not an Error; undefined otherwise (see `threwNonError`). */
  readonly thrown: unknown;
  readonly threwNonError: boolean;
  constructor(key: string, remoteName: string, remoteMessage: string, remoteStack: string, details: ThrownDetails = {}) {
    super(
      'ERR_TESSERA_TASK_FAILED',
      details.thrown
        ? `task ${key} failed: it threw ${remoteMessage}, which is not an Error (the value is in err.thrown)`
        : `task ${key} failed: ${remoteName}: ${remoteMessage}`,
    );
    this.key = key;
    this.remoteName = remoteName;
    this.remoteStack = remoteStack;
    this.fields = details.fields ?? {};
    this.threwNonError = details.thrown !== undefined;
    this.thrown = details.thrown?.value;
    this.stack = `${this.name}: ${this.message}\n    --- remote stack (on the worker) ---\n${remoteStack}`;
  }
}

/**
 * A task that was running on workers which died too many times. Raised by
 * the scheduler; the client rebuilds it as this class with its fields.
 */
export class KilledWorkerError extends TesseraError {
  readonly key: string;
  /** How many workers died while running it. */
  readonly attempts: number;
  /** The address (or, from older callers, the description) of the last worker that died. */
  readonly lastWorker: string;
  /** That worker's name, when known. */
  readonly lastWorkerName: string | undefined;
  constructor(key: string, attempts: number, lastWorker: string, lastWorkerName?: string) {
    super(
      'ERR_TESSERA_KILLED_WORKER',
      `task ${key} was running on ${attempts} workers that died (the last was ${lastWorkerName ? `${lastWorkerName} at ${lastWorker}` : lastWorker}); ` +
        `it probably crashes its process or exceeds the memory limit. Check the worker logs, ` +
        `reduce the task's memory use, or raise allowedFailures on the scheduler`,
    );
    this.key = key;
    this.attempts = attempts;
    this.lastWorker = lastWorker;
    this.lastWorkerName = lastWorkerName;
  }
}

export class CancelledError extends TesseraError {
  readonly key: string;
  constructor(key: string) {
    super('ERR_TESSERA_CANCELLED', `task ${key} was cancelled`);
    this.key = key;
  }
}

/**
 * Why a value is missing, for callers that handle one case (a lost scatter)
 * differently from another (a released future).
 */
export type MissingDataReason =
  /** The scheduler does not know the key: its future was released. */
  | 'released'
  /** Scattered data was lost with the worker that held it; there is no lineage to recompute it. */
  | 'lost'
  /** A task depends on a key the scheduler does not know. */
  | 'unknown-dependency'
  /** A value a task's arguments refer to is not available where they are decoded. */
  | 'unavailable'
  /** Results could not be fetched from the workers. */
  | 'fetch-failed';

/** A value that is gone; `reason` says why, `key` which. */
export class MissingDataError extends TesseraError {
  readonly key: string;
  readonly reason: MissingDataReason;
  constructor(key: string, reason: MissingDataReason, message: string) {
    super('ERR_TESSERA_MISSING_DATA', message);
    this.key = key;
    this.reason = reason;
  }
}

export class InvalidArgumentError extends TesseraError {
  constructor(message: string) {
    super('ERR_TESSERA_INVALID_ARGUMENT', message);
  }
}

/** Where a refused function uses something from the scope it was defined in. */
export interface CapturedVariable {
  readonly name: string;
  /** 1-based, counted within the function's own source text. */
  readonly line: number;
  /** 1-based, counted within the function's own source text. */
  readonly column: number;
}

/**
 * An inline function that cannot run on a worker because it depends on the
 * scope it was defined in (a captured variable, `this`, `super`,
 * `import.meta`). `variables` lists every captured name and where it is used.
 */
export class ClosureError extends TesseraError {
  readonly functionName: string;
  readonly variables: readonly CapturedVariable[];
  constructor(functionName: string, message: string, variables: readonly CapturedVariable[] = []) {
    super('ERR_TESSERA_CLOSURE', message);
    this.functionName = functionName;
    this.variables = variables;
  }
}

/**
 * A function that cannot be shipped or loaded: a native, bound or class
 * value on the client; a module that fails to import or lacks the export on
 * a worker.
 */
export class FunctionError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TESSERA_FUNCTION', message, options);
  }
}

/**
 * The MPI library could not be loaded or used: no libmpi found (the message
 * lists every name tried and how to set TESSERA_MPI_LIB), a library that
 * does not match the launcher (every process sees a world of 1), an MPI
 * call that failed, or MPI used after it was finalized.
 */
export class MpiError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TESSERA_MPI', message, options);
  }
}

/** Some MPI ranks never checked in with the bootstrap root; `missingRanks` lists them. */
export class CheckInTimeoutError extends TimeoutError {
  readonly missingRanks: number[];
  constructor(message: string, missingRanks: number[]) {
    super(message);
    this.missingRanks = missingRanks;
  }
}

/**
 * The bootstrap root failed while producing the value (e.g. the scheduler
 * could not start); raised on the other ranks with the root's message and,
 * when it had one, the root error's code (ERR_TESSERA_MPI otherwise).
 */
export class BootstrapFailedError extends TesseraError {
  readonly root: number;
  constructor(root: number, message: string, code: TesseraErrorCode = 'ERR_TESSERA_MPI') {
    super(code, message);
    this.root = root;
  }
}

/** Fewer MPI ranks than the requested roles (scheduler, client, workers) need. */
export class WorldTooSmallError extends TesseraError {
  readonly required: number;
  readonly actual: number;
  constructor(required: number, actual: number, message: string) {
    super('ERR_TESSERA_WORLD_TOO_SMALL', message);
    this.required = required;
    this.actual = actual;
  }
}

/** Not inside a Slurm job step, a Slurm variable missing or malformed, or a Slurm command that failed. */
export class SlurmError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TESSERA_SLURM', message, options);
  }
}

/** Why a scheduler file was refused; waitForSchedulerFile keeps waiting for the first three. */
export type SchedulerFileReason =
  /** No file at the path (yet). */
  | 'missing'
  /** Not valid JSON: perhaps half-written. */
  | 'invalid-json'
  /** Written by another Slurm or MPI job: stale, about to be replaced. */
  | 'other-job'
  /** The file exists but cannot be read (permissions, a directory). */
  | 'unreadable'
  /** Valid JSON but not a Tessera scheduler file. */
  | 'not-scheduler-file'
  /** No new enough scheduler file appeared in time, or the one found names a scheduler that is gone. */
  | 'stale';

export class SchedulerFileError extends TesseraError {
  readonly path: string;
  readonly reason: SchedulerFileReason;
  constructor(path: string, reason: SchedulerFileReason, message: string, options?: { cause?: unknown }) {
    super('ERR_TESSERA_SCHEDULER_FILE', message, options);
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The dashboard could not start or serve: its port is taken (code
 * ERR_TESSERA_DASHBOARD_PORT_IN_USE, so launchers can retry on another port),
 * the address cannot be bound, or its bundled web assets are missing.
 */
export class DashboardError extends TesseraError {
  constructor(
    message: string,
    code: 'ERR_TESSERA_DASHBOARD' | 'ERR_TESSERA_DASHBOARD_PORT_IN_USE' = 'ERR_TESSERA_DASHBOARD',
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/**
 * A dataframe operation that cannot run as asked: a missing input file, a
 * row the reader cannot parse, files whose schemas conflict, a query string
 * with a syntax error, an unknown column. The message names the file,
 * column or position involved.
 */
export class DataFrameError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TESSERA_DATAFRAME', message, options);
  }
}

/**
 * The dataframe engine (Polars, through nodejs-polars) is missing, cannot be
 * loaded on this platform, or failed inside a partition's query.
 */
export class EngineError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TESSERA_ENGINE', message, options);
  }
}

/** A query string (DataFrame.query) with a syntax error; `position` is the 0-based offset of the problem. */
export class QueryError extends DataFrameError {
  readonly query: string;
  /** 0-based character offset of the problem. */
  readonly position: number;
  constructor(query: string, position: number, problem: string) {
    super(`${problem} at position ${position} of the query:\n  ${query}\n  ${' '.repeat(position)}^`);
    this.query = query;
    this.position = position;
  }
}

/** The scheduler's state machine broke an invariant: a bug in Tessera, not in the caller's code. */
export class InvalidStateError extends TesseraError {
  constructor(message: string) {
    super('ERR_TESSERA_INVALID_STATE', message);
  }
}

// ------------------------------------------------------------- registry

/**
 * Every error class by name, for rebuilding errors that crossed the wire.
 * Keyed by literal names rather than `cls.name`, so that a bundler that
 * renames classes cannot break the lookup.
 */
export const ERROR_CLASSES = {
  TesseraError,
  ProtocolError,
  FrameTooLargeError,
  HandshakeError,
  ConnectionClosedError,
  TimeoutError,
  TaskError,
  KilledWorkerError,
  CancelledError,
  MissingDataError,
  InvalidArgumentError,
  ClosureError,
  FunctionError,
  MpiError,
  CheckInTimeoutError,
  BootstrapFailedError,
  WorldTooSmallError,
  SlurmError,
  SchedulerFileError,
  DashboardError,
  DataFrameError,
  EngineError,
  QueryError,
  InvalidStateError,
} as const;

export type ErrorClassName = keyof typeof ERROR_CLASSES;

/** What an error carries across the wire (a subset of protocol's ErrorInfo). */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Keys an error gets from its constructor, never from the wire. */
const OWN_KEYS = new Set(['name', 'message', 'stack', 'code', 'cause']);

/**
 * The class an error with this name and code is rebuilt as: the class of
 * that name when it is one of ours (a CheckInTimeoutError stays one though
 * its code is ERR_TESSERA_TIMEOUT), else the table's class for the code.
 */
export function errorClassFor(name: string, code: TesseraErrorCode): typeof TesseraError {
  if (Object.hasOwn(ERROR_CLASSES, name)) return ERROR_CLASSES[name as ErrorClassName] as typeof TesseraError;
  return ERROR_CLASSES[ERROR_CODES[code].error] as typeof TesseraError;
}

/**
 * Rebuilds a Tessera error that crossed the wire as its own class, with its
 * message and fields as sent: `err instanceof KilledWorkerError` holds on
 * the client and `err.key` is the task's. Only TesseraError's constructor
 * runs (with the subclass as new.target), because the subclasses' own
 * constructors compose their messages from arguments the wire does not
 * carry; the fields are then set as the subclass's constructor would have.
 * Returns null for a code that is not in the table.
 */
export function rebuildError(info: WireError): TesseraError | null {
  if (!isTesseraErrorCode(info.code)) return null;
  const cls = errorClassFor(info.name, info.code);
  const e = Reflect.construct(TesseraError, [info.code, info.message], cls) as TesseraError;
  const target = e as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(info.fields ?? {})) if (!OWN_KEYS.has(k)) target[k] = v;
  return e;
}
