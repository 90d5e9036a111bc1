/**
 * The keys of a P2P shuffle's tasks. The dataframe lowering names them, the
 * scheduler's shuffle extension and the worker's shuffle service recognise
 * them by name (as Dask's shuffle plugins recognise theirs), so no task
 * carries a second channel of metadata:
 *
 *   shuffle-transfer-<id>-<i>   input partition i: run its pipeline, split it into one shard per output, send the shards
 *   shuffle-barrier-<id>-0      depends on every transfer: when it runs, every shard has been delivered
 *   shuffle-unpack-<id>-<j>     depends on the barrier: output j, from the shards its owner worker received
 */

export type ShuffleRole = 'transfer' | 'barrier' | 'unpack';

export interface ShuffleKey {
  readonly role: ShuffleRole;
  /** The shuffle's id (the lowering's token: a hex string). */
  readonly id: string;
  /** Input partition (transfer), output partition (unpack), 0 (barrier). */
  readonly index: number;
}

const PATTERN = /^shuffle-(transfer|barrier|unpack)-([0-9a-f]+)-(\d+)$/;

export function shuffleKey(role: ShuffleRole, id: string, index = 0): string {
  return `shuffle-${role}-${id}-${index}`;
}

/** The role of a shuffle task's key, or null for any other key. */
export function parseShuffleKey(key: string): ShuffleKey | null {
  if (!key.startsWith('shuffle-')) return null;
  const m = PATTERN.exec(key);
  return m ? { role: m[1] as ShuffleRole, id: m[2]!, index: Number(m[3]) } : null;
}
