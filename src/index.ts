/**
 * Tessera: parallel computing for TypeScript in the style of Dask.
 * This is the package's main entry point (`import { ... } from 'tessera-compute'`).
 */
export { Client, compute, persist } from './client/client.js';
export type { ConnectOptions, GraphStreamReport, SubmitOptions, SchedulerInfo } from './client/client.js';
export type { ClusterLike, ConnectTarget } from './comm/resolve-scheduler.js';
export { Future } from './client/future.js';
export type { FutureStatus } from './client/future.js';
export { wait, asCompleted } from './client/wait.js';
export { progress } from './dashboard/futures-progress.js';
export { delayed, Delayed } from './graph/delayed.js';
export type { DelayedOptions, Lazy, LazyArgs } from './graph/delayed.js';
export { moduleFunction, remoteModule } from './graph/functions.js';
export type { ModuleFunction, TaskFunction } from './graph/function-spec.js';
export type { FunctionSpec } from './protocol/messages.js';
export { LocalCluster } from './deploy/local.js';
export type { LocalClusterOptions } from './deploy/local.js';
export { SchedulerServer } from './scheduler/server.js';
export type { SchedulerOptions } from './scheduler/options.js';
export { WorkerServer } from './worker/server.js';
export type { WorkerOptions } from './worker/options.js';
export * from './errors.js';
export { VERSION } from './version.js';
