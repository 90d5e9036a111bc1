/**
 * eslint-scope, as Tessera loads it (the client's check of inline functions
 * for captured variables, src/graph/functions.ts).
 *
 * This file type-checks against the real package; `npm run build`
 * (scripts/build-vendor.js) then replaces its compiled output with one
 * pre-bundled file of eslint-scope and its dependencies (estraverse,
 * esrecurse). Loaded as packaged, eslint-scope's ESM files import CommonJS
 * packages, which Node scans for their export names: about 45 ms on this
 * project's machine, against about 10 ms for the bundle, on every client's
 * start. Without the build step this file still works, through the package.
 */
export { analyze } from 'eslint-scope';
