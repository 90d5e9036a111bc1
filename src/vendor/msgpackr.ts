/**
 * msgpackr, as Tessera loads it. Every process and executor thread of a
 * cluster loads msgpack first thing, so its load time is paid on every
 * start-up (an MPI job starts N processes on a few cores at once).
 *
 * This file type-checks against the real package; `npm run build`
 * (scripts/build-vendor.js) then replaces its compiled output with one
 * pre-bundled file of msgpackr's pure-JavaScript build:
 * - one file instead of msgpackr's module graph: about 12 ms to load, not ~37;
 * - without the optional native string extractor (msgpackr-extract), whose
 *   loader probes the file system for prebuilt binaries (~18 ms per process
 *   and thread) and which made no measurable difference to the core
 *   benchmark (bench/core, with and without it, within run-to-run noise).
 * Without the build step this file still works, through the package itself.
 *
 * All of Tessera imports msgpackr from here, never directly: extensions
 * (addExtension) are registered in the module instance that encodes.
 */
export { Packr, Unpackr, addExtension } from 'msgpackr';
