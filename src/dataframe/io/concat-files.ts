/** Joining files byte for byte (the parts of a single CSV output), on the client. */

import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { DataFrameError } from '../../errors.js';

/**
 * Appends `parts` in order into a new file `out` and flushes it to disk
 * (so the rename that publishes it never exposes a partly written file
 * after a crash). Returns the bytes written.
 */
export async function concatFiles(parts: readonly string[], out: string): Promise<number> {
  const fh = await open(out, 'wx');
  let bytes = 0;
  try {
    for (const part of parts) {
      try {
        for await (const chunk of createReadStream(part)) {
          const buf = chunk as Buffer;
          let done = 0;
          while (done < buf.length) done += (await fh.write(buf, done, buf.length - done)).bytesWritten;
          bytes += buf.length;
        }
      } catch (err) {
        throw new DataFrameError(
          `cannot read the written part ${part} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
            `the client joins the parts into one file, so it must see the workers' file system`,
          { cause: err },
        );
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return bytes;
}
