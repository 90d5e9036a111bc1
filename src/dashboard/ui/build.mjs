/**
 * Bundles the dashboard's browser code into static assets served by the
 * scheduler and inlined into performance reports: app.js (one IIFE, uPlot
 * included), app.css and favicon.svg. Everything is bundled so the dashboard
 * works on clusters without internet access; nothing is fetched from a CDN.
 *
 * Used by scripts/build-dashboard.js (`npm run build`, into dist/dashboard-assets)
 * and runnable directly: node src/dashboard/ui/build.mjs [outDir]
 */
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' +
  '<rect width="32" height="32" rx="7" fill="#0d1117"/>' +
  '<rect x="5" y="5" width="10" height="10" rx="2" fill="#4e79a7"/>' +
  '<rect x="17" y="5" width="10" height="10" rx="2" fill="#f28e2b"/>' +
  '<rect x="5" y="17" width="10" height="10" rx="2" fill="#59a14f"/>' +
  '<rect x="17" y="17" width="10" height="10" rx="2" fill="#b07aa1"/></svg>';

/** @param {string} [outDir] relative to the current directory; default dist/dashboard-assets */
export async function buildDashboardAssets(outDir = 'dist/dashboard-assets') {
  const out = resolve(outDir);
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: { app: join(here, 'app', 'main.ts') },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'],
    minify: true,
    legalComments: 'eof',
    outdir: out,
    logLevel: 'warning',
    // The bundle is also inlined into <script> of a report: keep '</script' escaped.
    supported: { 'inline-script': true },
  });
  await writeFile(join(out, 'favicon.svg'), FAVICON_SVG);
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = await buildDashboardAssets(process.argv[2]);
  console.log(`dashboard assets written to ${out}`);
}
