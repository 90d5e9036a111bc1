/** The benchmark's task functions, shipped to workers as module functions. */
export function trivial<T>(x: T): T {
  return x;
}
export function inc(x: number): number {
  return x + 1;
}
export function dec(x: number): number {
  return x - 1;
}
export function add(a: number, b: number): number {
  return a + b;
}
/** The process id of whoever runs it: how the benchmarks find the scheduler and worker processes to measure. */
export function pid(): number {
  return process.pid;
}
