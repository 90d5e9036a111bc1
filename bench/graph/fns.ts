/** Task functions of the million-task benchmark, shipped to workers as module functions. */
export function inc(x: number): number {
  return x + 1;
}
export function add(a: number, b: number): number {
  return a + b;
}
export function pid(): number {
  return process.pid;
}
