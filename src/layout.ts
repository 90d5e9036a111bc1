/**
 * Where this package's own files are. Its code runs in one of two forms:
 * as tsc wrote it (dist/src/**, what the tests and examples import by path)
 * or from the bundle the package's entry points load (dist/bundle, built by
 * scripts/build-bundle.js, see src/boot/bundle.ts). A module that names a
 * file by its own location must ask here, since inside the bundle every
 * module's import.meta.url is the bundle's.
 */

/** Replaced by `true` when scripts/build-bundle.js bundles the code; never declared otherwise. */
declare const TESSERA_BUNDLE: true | undefined;

/** True when this code runs from dist/bundle. */
export const BUNDLED: boolean = typeof TESSERA_BUNDLE !== 'undefined';

/** dist/: this module is dist/src/layout.js, or part of dist/bundle/tessera-*.cjs; both one level below it. */
export const DIST_URL = new URL('../', import.meta.url);

/** The file that runs the `tessera-compute` command line. */
export function cliEntryUrl(): URL {
  return new URL(BUNDLED ? 'bundle/cli.js' : 'src/cli/main.js', DIST_URL);
}

/**
 * A module as tsc compiled it (dist/src/<path>), for what a thread loads by
 * URL and workers import to find task functions: executor threads compile
 * and import users' code, which code from the bundle cannot do for itself
 * (src/boot/host.ts), and a thread has no start-up to speed up that matters.
 */
export function compiledModuleUrl(path: string): URL {
  return new URL(`src/${path}`, DIST_URL);
}
