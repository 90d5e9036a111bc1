/**
 * Each folder of src/ holds one role, and the roles depend on each other in
 * one direction only (README, "How it is built"). This test reads every
 * import of every src/**\/*.ts file (static `import … from`, `export … from`,
 * `import('…')` calls and `import('…')` types, type-only imports included:
 * a type is a dependency on its owner as much as a value is) and fails on an
 * import a rule forbids, naming the file, the import and the rule; on an
 * import cycle between files, printing the cycle; and on a cycle between
 * folders.
 *
 * Cycles between files are looked for among the imports that remain at run
 * time: a type-only import is erased by tsc, so it cannot make modules
 * load in a surprising order or see each other half-initialised. (The one
 * such loop today is client/future.ts naming the type of its `client`
 * property, whose module makes Futures.) Between folders every import
 * counts, types included: the folders form layers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

// Tests run from the repository root (scripts/run-tests.js), where the sources are.
const SRC = resolve('src');

/** Folders of src/ that are not TypeScript modules of the package (the web UI has its own build). */
const NOT_PACKAGE = new Set(['dashboard/ui']);

interface Rule {
  /** What the rule says, as the failure message names it. */
  readonly text: string;
  /** Folders (first path segment under src/) the rule applies to. */
  readonly from: (folder: string) => boolean;
  /** Folders the importing file must not import from. */
  readonly forbidden: readonly string[];
}

const RULES: readonly Rule[] = [
  { text: 'the scheduler and the client do not import the worker (shared code lives in util/, protocol/, comm/ or graph/)', from: (f) => f === 'scheduler' || f === 'client', forbidden: ['worker'] },
  { text: 'the worker and the client do not import the scheduler (shared code lives in util/, protocol/, comm/ or graph/)', from: (f) => f === 'worker' || f === 'client', forbidden: ['scheduler'] },
  { text: 'the scheduler, the worker and the client do not import the dashboard (the dashboard reads them, not the other way round)', from: (f) => f === 'scheduler' || f === 'worker' || f === 'client', forbidden: ['dashboard'] },
  { text: 'only cli/ imports cli/ (the command line is the top of the stack)', from: (f) => f !== 'cli', forbidden: ['cli'] },
  { text: 'the core (scheduler, worker, client, graph, comm, protocol) does not import deploy/ (deployments start the core, not the other way round)', from: (f) => ['scheduler', 'worker', 'client', 'graph', 'comm', 'protocol'].includes(f), forbidden: ['deploy'] },
  { text: 'util/ holds leaf helpers: it imports nothing else of src/', from: (f) => f === 'util', forbidden: ['*'] },
];

/**
 * Imports the rules forbid that are still here, each with why. The list
 * may only shrink: the test fails when an entry no longer matches an import.
 */
const KNOWN_EXCEPTIONS: ReadonlyArray<{ file: string; imports: string; why: string }> = [
  { file: 'scheduler/server.ts', imports: 'dashboard/server.ts', why: 'the scheduler hosts the dashboard (lazily imported when it starts with one); to go, whoever starts a scheduler hands it the dashboard to serve' },
  { file: 'scheduler/server.ts', imports: 'dashboard/report.ts', why: 'the scheduler records performance reports (lazily imported); to go with the dashboard, as a service handed to the scheduler' },
  { file: 'client/client.ts', imports: 'dashboard/report.ts', why: 'Client.performanceReport() writes the HTML report (lazily imported); to go, the client returns the data and the dashboard writes it' },
];

/**
 * Imports left out of the folder graph, each with why. src/index.ts is the
 * package's entry, not a layer: it re-exports every layer, and an MPI rank
 * that will run the client's script preloads it. The nanny starts its worker
 * with the child-process spawner LocalCluster uses, while LocalCluster's
 * children run the nanny: to go, spawn.ts moves to a place both may import.
 */
const FOLDER_GRAPH_SKIPS: ReadonlyArray<{ file: string; imports: string }> = [
  { file: 'deploy/mpi/start-rank.ts', imports: 'index.ts' },
  { file: 'nanny/nanny.ts', imports: 'deploy/spawn.ts' },
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!NOT_PACKAGE.has(posixPath(relative(SRC, path)))) out.push(...sourceFiles(path));
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const posixPath = (p: string): string => p.split(sep).join(posix.sep);

interface ImportRef {
  specifier: string;
  /** Erased by tsc: `import type`, `export type`, an import whose every name is a type, or an import() type. */
  typeOnly: boolean;
}

/** Whether an import or export declaration brings in types only. */
function declarationIsTypeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) {
    return node.isTypeOnly || (!!node.exportClause && ts.isNamedExports(node.exportClause) && node.exportClause.elements.length > 0 && node.exportClause.elements.every((e) => e.isTypeOnly));
  }
  const clause = node.importClause;
  if (!clause) return false; // import './x.js' runs the module
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  return !!bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
}

/** Every module a file names: static imports and re-exports, import() calls and import() types. */
export function importsOf(fileName: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: ImportRef[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: declarationIsTypeOnly(node) });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) found.push({ specifier: arg.text, typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      found.push({ specifier: node.moduleReference.expression.text, typeOnly: node.isTypeOnly });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The src-relative path ('scheduler/state.ts') a relative specifier names, or undefined for a package. */
function resolveSpecifier(fromRel: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = posix.normalize(posix.join(posix.dirname(fromRel), specifier));
  return target.replace(/\.js$/, '.ts');
}

/** The folder a file belongs to ('scheduler'); a file directly in src/ is a layer of its own ('errors.ts'). */
const folderOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : rel);

interface Graph {
  /** Every import between files of src/, types included. */
  readonly edges: Map<string, string[]>;
  /** The imports that remain at run time. */
  readonly runtimeEdges: Map<string, string[]>;
  readonly violations: string[];
}

function buildGraph(): Graph {
  const edges = new Map<string, string[]>();
  const runtimeEdges = new Map<string, string[]>();
  const violations: string[] = [];
  const exceptionsUsed = new Set<(typeof KNOWN_EXCEPTIONS)[number]>();
  for (const path of sourceFiles(SRC)) {
    const rel = posixPath(relative(SRC, path));
    const targets: string[] = [];
    const runtimeTargets: string[] = [];
    for (const { specifier, typeOnly } of importsOf(path, readFileSync(path, 'utf8'))) {
      const target = resolveSpecifier(rel, specifier);
      if (target === undefined) continue;
      if (target.startsWith('../')) {
        violations.push(`src/${rel} imports '${specifier}': src/ does not import from outside src/`);
        continue;
      }
      targets.push(target);
      if (!typeOnly) runtimeTargets.push(target);
      const from = folderOf(rel);
      const to = folderOf(target);
      if (from === to) continue;
      const exception = KNOWN_EXCEPTIONS.find((e) => e.file === rel && e.imports === target);
      if (exception) {
        exceptionsUsed.add(exception);
        continue;
      }
      for (const rule of RULES) {
        if (rule.from(from) && (rule.forbidden.includes(to) || rule.forbidden.includes('*'))) {
          violations.push(`src/${rel} imports '${specifier}' (src/${target}): ${rule.text}`);
        }
      }
    }
    edges.set(rel, [...new Set(targets)].sort());
    runtimeEdges.set(rel, [...new Set(runtimeTargets)].sort());
  }
  for (const [file, targets] of edges) {
    for (const target of targets) {
      if (!edges.has(target)) violations.push(`src/${file} imports src/${target}, which does not exist`);
    }
  }
  for (const e of KNOWN_EXCEPTIONS) {
    if (!exceptionsUsed.has(e)) violations.push(`KNOWN_EXCEPTIONS lists src/${e.file} importing src/${e.imports}, which it no longer does: remove the entry`);
  }
  return { edges, runtimeEdges, violations };
}

/** The folder graph: folder -> the folders its files import (types included). */
function folderEdges(edges: Map<string, string[]>): Map<string, string[]> {
  const skipped = [...KNOWN_EXCEPTIONS, ...FOLDER_GRAPH_SKIPS];
  const folders = new Map<string, Set<string>>();
  for (const [file, targets] of edges) {
    const from = folderOf(file);
    const set = folders.get(from) ?? new Set<string>();
    folders.set(from, set);
    for (const target of targets) {
      if (folderOf(target) === from || skipped.some((s) => s.file === file && s.imports === target)) continue;
      set.add(folderOf(target));
    }
  }
  return new Map([...folders].map(([f, s]) => [f, [...s].sort()]));
}

/** Every strongly connected component of more than one file (or a file importing itself), each as one cycle through it. */
function cycles(edges: Map<string, string[]>): string[][] {
  // Tarjan's algorithm, iterative so a deep import chain cannot overflow the stack.
  let index = 0;
  const indices = new Map<string, number>();
  const lowlinks = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  for (const root of edges.keys()) {
    if (indices.has(root)) continue;
    const work: Array<{ node: string; next: number }> = [{ node: root, next: 0 }];
    indices.set(root, index); lowlinks.set(root, index); index++;
    stack.push(root); onStack.add(root);
    while (work.length) {
      const frame = work[work.length - 1]!;
      const targets = edges.get(frame.node) ?? [];
      if (frame.next < targets.length) {
        const target = targets[frame.next++]!;
        if (!edges.has(target)) continue;
        if (!indices.has(target)) {
          indices.set(target, index); lowlinks.set(target, index); index++;
          stack.push(target); onStack.add(target);
          work.push({ node: target, next: 0 });
        } else if (onStack.has(target)) {
          lowlinks.set(frame.node, Math.min(lowlinks.get(frame.node)!, indices.get(target)!));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]!.node;
        lowlinks.set(parent, Math.min(lowlinks.get(parent)!, lowlinks.get(frame.node)!));
      }
      if (lowlinks.get(frame.node) === indices.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        const selfLoop = component.length === 1 && targets.includes(frame.node);
        if (component.length > 1 || selfLoop) components.push(component);
      }
    }
  }
  // Print one concrete cycle per component: the shortest path back to its first file (breadth first).
  return components.map((component) => {
    const members = new Set(component);
    const start = [...component].sort()[0]!;
    const previous = new Map<string, string>();
    const queue = [start];
    let found: string | undefined;
    for (let i = 0; i < queue.length && found === undefined; i++) {
      const node = queue[i]!;
      for (const target of edges.get(node) ?? []) {
        if (!members.has(target)) continue;
        if (target === start) { found = node; break; }
        if (!previous.has(target)) { previous.set(target, node); queue.push(target); }
      }
    }
    const path = [start];
    for (let node = found!; node !== start; node = previous.get(node)!) path.splice(1, 0, node);
    path.push(start);
    return component.length > path.length - 1 ? [...path, `(and ${component.length - (path.length - 1)} more files in the same cycle: ${component.filter((f) => !path.includes(f)).sort().join(', ')})`] : path;
  });
}

test('the import parser sees static imports, re-exports, import() calls and import() types', () => {
  const text = [
    "import { a } from './a.js';",
    "import type { B } from '../b/b.js';",
    "export { c } from './c.js';",
    "export * from './d.js';",
    "const e = await import('./e.js');",
    "type F = import('./f.js').F;",
    "import 'node:fs';",
    "const notAnImport = 'import(\"./g.js\")';",
  ].join('\n');
  assert.deepEqual(importsOf('x.ts', text), [
    { specifier: './a.js', typeOnly: false },
    { specifier: '../b/b.js', typeOnly: true },
    { specifier: './c.js', typeOnly: false },
    { specifier: './d.js', typeOnly: false },
    { specifier: './e.js', typeOnly: false },
    { specifier: './f.js', typeOnly: true },
    { specifier: 'node:fs', typeOnly: false },
  ]);
  assert.deepEqual(importsOf('y.ts', "import { type A, type B } from './ab.js'; import { type C, d } from './cd.js'; export type { E } from './e.js';"), [
    { specifier: './ab.js', typeOnly: true },
    { specifier: './cd.js', typeOnly: false },
    { specifier: './e.js', typeOnly: true },
  ]);
});

const graph = buildGraph();

test('every folder of src/ imports only what the layering rules allow', () => {
  assert.ok(graph.edges.size > 100, `found only ${graph.edges.size} source files under ${dirname(SRC)}/src`);
  assert.deepEqual(graph.violations, [], `${graph.violations.length} forbidden imports:\n  ${graph.violations.join('\n  ')}`);
});

test('no import cycles between the files of src/ (imports that remain at run time)', () => {
  const found = cycles(graph.runtimeEdges);
  assert.deepEqual(found, [], `${found.length} import cycles:\n  ${found.map((c) => c.join(' -> ')).join('\n  ')}`);
});

test('no import cycles between the folders of src/ (every import, types included)', () => {
  const found = cycles(folderEdges(graph.edges));
  assert.deepEqual(found, [], `${found.length} cycles between folders:\n  ${found.map((c) => c.join(' -> ')).join('\n  ')}`);
});
