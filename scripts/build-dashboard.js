#!/usr/bin/env node
// Bundles the dashboard's browser code (src/dashboard/ui) into static assets
// under dist/dashboard-assets, served by the scheduler. Nothing to do until
// the UI exists.
import { existsSync } from 'node:fs';
if (!existsSync('src/dashboard/ui')) process.exit(0);
const { buildDashboardAssets } = await import('../src/dashboard/ui/build.mjs');
await buildDashboardAssets();
