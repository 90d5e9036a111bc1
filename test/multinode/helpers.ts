/**
 * Shared by the multi-node suites: one netns box per test file (nodes n1..nK
 * with ib0 and eth0, see test/fixtures/netns/box.ts), jobs started on a
 * node as a user starts them there (`mpirun ...` on n1), and the checks that
 * nothing outlives a job or the box.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { NetnsBox, type BoxNode } from '../fixtures/netns/box.js';
import { jobEnv, runJob, type JobResult } from '../mpi/helpers.js';

export const NODE = process.execPath;

export function netnsFixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/netns/${name}`, import.meta.url));
}

/** Builds the box, failing (never skipping) with what is missing when this machine cannot. */
export function openBox(nodes = 4): NetnsBox {
  try {
    return NetnsBox.up({ nodes });
  } catch (err) {
    return assert.fail((err as Error).message);
  }
}

/** Takes the box down and fails when it had to kill something or something of it remains. */
export function closeBox(box: NetnsBox | undefined): void {
  if (!box) return;
  const killed = box.down();
  assert.deepEqual(box.remains(), [], 'the box left namespaces, links or files behind');
  assert.deepEqual(killed, [], 'processes were still running on the nodes when the box went down');
}

/** Fails when any process is still running on a node (call after each job); `daemons` are the ones meant to stay (slurmd). */
export function assertNodesEmpty(box: NetnsBox, context: string, daemons?: RegExp): void {
  const left = box.processes().filter((p) => !daemons?.test(p));
  assert.deepEqual(left, [], `processes outlived the job on the nodes\n${context}`);
}

/** Runs `command args` on `node` (its namespaces and hostname) with runJob's hard timeout and process-group kill. */
export function runOn(box: NetnsBox, node: BoxNode, command: string, args: string[], opts: Parameters<typeof runJob>[2] = {}): Promise<JobResult> {
  const [cmd, ...rest] = box.wrap(node, [command, ...args]);
  return runJob(cmd!, rest, { env: jobEnv(), ...opts });
}

/** `--host n1:2,n2:2,...` for the box's first `nodes` nodes with `slots` each. */
export function hostList(box: NetnsBox, slots: number | number[], nodes = box.nodes.length): string {
  return box.nodes.slice(0, nodes).map((n, i) => `${n.name}:${Array.isArray(slots) ? slots[i] : slots}`).join(',');
}

/**
 * OpenMPI across the box: ranks reach other nodes through the box's launch
 * agent (instead of ssh), and MPI's own traffic (out-of-band and the TCP
 * transport) stays on ib0's subnet.
 */
export function ompiArgs(box: NetnsBox, hosts: string, np: number, ...rest: string[]): string[] {
  return ['--allow-run-as-root', '--oversubscribe', '--host', hosts, '--mca', 'plm_rsh_agent', box.agent,
    '--mca', 'btl', 'self,tcp', '--mca', 'btl_tcp_if_include', '10.99.0.0/24', '--mca', 'oob_tcp_if_include', '10.99.0.0/24',
    '-np', String(np), ...rest];
}

/** MPICH's hydra across the box: its ssh launcher, with the box's agent as the ssh command. */
export function mpichArgs(box: NetnsBox, hosts: string, np: number, ...rest: string[]): string[] {
  return ['-launcher', 'ssh', '-launcher-exec', box.agent, '-hosts', hosts, '-iface', 'ib0', '-n', String(np), ...rest];
}
