/**
 * Starting Tessera processes on this machine: LocalCluster's scheduler,
 * nannies and workers, and the nanny's worker. A child runs src/deploy/child.ts, reports
 * `ready` (or `error`) over the IPC channel, and exits when that channel
 * closes, so a parent that dies never leaves it behind.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { TesseraError, TimeoutError, rebuildError, type WireError } from '../errors.js';
import type { SchedulerOptions } from '../scheduler/options.js';
import type { WorkerOptions } from '../worker/options.js';
import { SCHEDULER_NODE_OPTIONS } from './scheduler-process.js';

export type ChildSpec =
  | { role: 'scheduler'; options: SchedulerOptions }
  /** `supervised`: the parent is a nanny, which replaces the process when the worker asks (client.restart()). */
  | { role: 'worker'; options: WorkerOptions; supervised?: boolean }
  /** A nanny (LocalCluster's default): runs the worker in a child of its own and replaces it when it dies or outgrows its memory limit. */
  | { role: 'nanny'; options: WorkerOptions };

export interface Ready {
  type: 'ready';
  address: string;
  token?: string;
  dashboardPort?: number;
  dashboardHost?: string;
  name?: string;
}

const CHILD_ENTRY = new URL('./child.js', import.meta.url);

/**
 * Node flags of the parent that must not reach the children: they describe
 * how the parent was started (an -e script, the test runner, a debugger
 * port) and would break or clash in a child. Memory and loader flags stay.
 */
export function childExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (/^--(input-type|test|watch|inspect|experimental-test|eval|print)/.test(a)) continue;
    if (a === '-e' || a === '-p' || a === '--eval' || a === '--print') {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/**
 * Node flags for the children only, from TESSERA_NODE_OPTIONS (split on
 * spaces): `TESSERA_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof'`
 * profiles the scheduler, nannies and workers but not the client script,
 * which NODE_OPTIONS would also reach.
 */
export function extraNodeOptions(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.TESSERA_NODE_OPTIONS ?? '').split(/\s+/).filter((a) => a.length > 0);
}

/** V8 flags by role (see scheduler-process.ts). */
export function roleNodeOptions(role: ChildSpec['role']): readonly string[] {
  return role === 'scheduler' ? SCHEDULER_NODE_OPTIONS : [];
}

/** Forks a child running `spec` and resolves once it reports ready; kills it and rejects on failure or timeout. */
export function spawnTesseraChild(spec: ChildSpec, token: string, label: string, timeoutMs = 30_000): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = fork(CHILD_ENTRY, [], {
    // Flags of the parent first, then the role's, then TESSERA_NODE_OPTIONS: a later repeat of a flag wins in Node.
    execArgv: [...new Set([...childExecArgv(), ...roleNodeOptions(spec.role), ...extraNodeOptions()])],
    // The token goes through the environment, never the command line (visible in ps).
    env: { ...process.env, TESSERA_CHILD_SPEC: JSON.stringify(spec), TESSERA_TOKEN: token },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new TimeoutError(`${label} did not start within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(new TesseraError('ERR_TESSERA_CONNECT', `${label} exited during start-up (${signal ?? `code ${code}`}); see its error above`));
    };
    child.once('exit', onExit);
    const onMessage = (m: { type?: string; message?: string; error?: WireError }) => {
      if (m?.type === 'ready') {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve({ child, ready: m as Ready });
      } else if (m?.type === 'error') {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.off('message', onMessage);
        child.kill('SIGKILL');
        // A Tessera error keeps its class and code (a scheduler whose --interface does not exist fails with
        // ERR_TESSERA_INTERFACE, not a generic start-up failure); anything else is ERR_TESSERA_CONNECT.
        const message = `${label} failed to start: ${m.message}`;
        reject((m.error && rebuildError({ ...m.error, message })) ?? new TesseraError('ERR_TESSERA_CONNECT', message));
      }
    };
    child.on('message', onMessage);
  });
}
