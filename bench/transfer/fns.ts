/** Tasks of the transfer benchmark: module functions, so no source text is shipped per task. */
export function make(bytes: number, seed: number): Buffer {
  return Buffer.alloc(bytes, seed & 0xff);
}

export function sizeOf(...values: Uint8Array[]): number {
  let n = 0;
  for (const v of values) n += v.byteLength;
  return n;
}
