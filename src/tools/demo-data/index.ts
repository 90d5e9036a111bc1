/**
 * The demo data generator (`tessera-compute demo-data`): NYC-taxi-like CSV
 * for demos, tests and benchmarks. A tool built on nothing of the library.
 */

export { APPROX_BYTES_PER_ROW, generateDemoData, type DemoDataOptions, type DemoDataResult } from './generate.js';
export { demoFileName, NYC_TAXI_2015_COLUMNS } from './rows.js';
