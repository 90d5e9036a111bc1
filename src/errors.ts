/**
 * Typed errors with stable codes, in the style of undici and fastify: callers
 * branch on `err.code`, never on message text. Every message says what
 * happened and what to do about it.
 */

export type TesseraErrorCode =
  | 'ERR_TESSERA_PROTOCOL'
  | 'ERR_TESSERA_FRAME_TOO_LARGE'
  | 'ERR_TESSERA_HANDSHAKE'
  | 'ERR_TESSERA_AUTH'
  | 'ERR_TESSERA_CONNECTION_CLOSED'
  | 'ERR_TESSERA_CONNECT'
  | 'ERR_TESSERA_TIMEOUT'
  | 'ERR_TESSERA_TASK_FAILED'
  | 'ERR_TESSERA_KILLED_WORKER'
  | 'ERR_TESSERA_CANCELLED'
  | 'ERR_TESSERA_CLOSURE'
  | 'ERR_TESSERA_FUNCTION'
  | 'ERR_TESSERA_SERIALIZE'
  | 'ERR_TESSERA_INVALID_ARGUMENT'
  | 'ERR_TESSERA_SCHEDULER_FILE'
  | 'ERR_TESSERA_INTERFACE'
  | 'ERR_TESSERA_NO_CLIENT'
  | 'ERR_TESSERA_MISSING_DATA'
  | 'ERR_TESSERA_WORLD_TOO_SMALL'
  | 'ERR_TESSERA_MPI'
  | 'ERR_TESSERA_SLURM'
  | 'ERR_TESSERA_DATAFRAME'
  | 'ERR_TESSERA_ENGINE'
  | 'ERR_TESSERA_DASHBOARD_PORT_IN_USE'
  | 'ERR_TESSERA_DASHBOARD';

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

/** A task that was running on workers which died too many times. */
export class KilledWorkerError extends TesseraError {
  readonly key: string;
  constructor(key: string, attempts: number, lastWorker: string) {
    super(
      'ERR_TESSERA_KILLED_WORKER',
      `task ${key} was running on ${attempts} workers that died (the last was ${lastWorker}); ` +
        `it probably crashes its process or exceeds the memory limit. Check the worker logs, ` +
        `reduce the task's memory use, or raise allowedFailures on the scheduler`,
    );
    this.key = key;
  }
}

export class CancelledError extends TesseraError {
  constructor(key: string) {
    super('ERR_TESSERA_CANCELLED', `task ${key} was cancelled`);
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
