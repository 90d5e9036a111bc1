/**
 * Bundles of partition pieces (a split's result): the format lives in
 * util/bundle.ts, which the worker's shuffle service shares.
 */
export { asBuffer, bundle, bundleCount, isBundle, unbundle, unbundleAll } from '../util/bundle.js';
