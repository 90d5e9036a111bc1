#!/usr/bin/env node
/**
 * The top self-time items of V8 CPU profiles (.cpuprofile, as written by
 * `node --cpu-prof` or TESSERA_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=DIR'):
 *
 *   node scripts/cpuprofile-top.js [--top 15] FILE.cpuprofile...
 *
 * For each file: total sampled time, then the functions where most samples
 * landed (self time), with their file and line, so "where does a task's CPU
 * go" is one command after a profiled benchmark run.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const topIdx = args.indexOf('--top');
const top = topIdx >= 0 ? Number(args[topIdx + 1]) : 15;
const files = args.filter((a, i) => !a.startsWith('--') && (topIdx < 0 || i !== topIdx + 1));
if (files.length === 0) {
  console.error('usage: node scripts/cpuprofile-top.js [--top N] FILE.cpuprofile...');
  process.exit(2);
}
for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of p.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const totalUs = p.endTime - p.startTime;
  const perSample = totalUs / Math.max(1, p.samples.length);
  const self = new Map();
  let idle = 0;
  for (const [id, c] of counts) {
    const n = byId.get(id);
    const f = n.callFrame;
    if (f.functionName === '(idle)' || f.functionName === '(program)') {
      if (f.functionName === '(idle)') idle += c;
    }
    const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : '';
    const label = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(label, (self.get(label) ?? 0) + c);
  }
  const busy = p.samples.length - idle;
  console.log(`\n${basename(file)}: ${(totalUs / 1e6).toFixed(2)} s sampled, busy ${((busy * perSample) / 1e6).toFixed(2)} s`);
  const rows = [...self].filter(([l]) => !l.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [label, c] of rows) console.log(`  ${((100 * c) / Math.max(1, busy)).toFixed(1).padStart(5)}%  ${((c * perSample) / 1e3).toFixed(0).padStart(6)} ms  ${label}`);
}
