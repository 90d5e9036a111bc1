/** Byte counts as people read them: '1.50 GiB', and a limit as '200 MB (191 MiB)'. */

/** '0 B', '512 B', '1.50 GiB', '12.3 MiB', '640 KiB': binary units, three significant digits. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 && i > 0 ? n.toFixed(2) : n < 100 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

/** '200 MB (191 MiB)': a limit as the user probably wrote it, and in binary units. */
export function formatLimit(bytes: number): string {
  const mb = bytes / 1e6;
  const decimal = mb >= 1000 ? `${+(mb / 1000).toFixed(2)} GB` : `${+mb.toFixed(mb < 10 ? 1 : 0)} MB`;
  return `${decimal} (${formatBytes(bytes)})`;
}
