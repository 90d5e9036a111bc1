/**
 * The dashboard's public surface, for the scheduler, client and CLI to wire:
 * the HTTP server, performance reports and terminal progress. Everything
 * reads a DashboardSource (./source.ts), never scheduler internals.
 */
export { startDashboard, defaultAssetsDir } from './server.js';
export type { DashboardOptions, DashboardServer, DashboardLogger } from './server.js';
export { parseDashboardAddress } from './address.js';
export type { DashboardBind } from './address.js';
export { renderMetrics, PROMETHEUS_CONTENT_TYPE } from './metrics.js';
export { PerformanceRecorder, writePerformanceReport, renderPerformanceReport, loadReportAssets } from './report.js';
export type { RecorderOptions, ReportAssets } from './report.js';
export { renderProgress, formatProgressBars, formatProgressLine, isComplete } from './progress.js';
export type { ProgressCounts, ProgressSource, ProgressOptions, ProgressHandle, ProgressStream } from './progress.js';
export type * from './source.js';
export type * from '../scheduler/snapshot.js';
export type { LiveUpdate, SchedulerInfoPayload, PerformanceReportData } from './protocol.js';
