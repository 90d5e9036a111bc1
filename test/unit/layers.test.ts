/**
 * Each folder of src/ holds one role, and the roles depend on each other in
 * one direction only (README, "How it is built"). This test reads every
 * import of every src/**\/*.ts file (static `import … from`, `export … from`,
 * `import('…')` calls and `import('…')` types, type-only imports included:
 * a type is a dependency on its owner as much as a value is) and fails on an
 * import a rule forbids, naming the file, the import and the rule, and on any
 * import cycle between files, printing the cycle.
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

/** Every module specifier a file names: static imports and re-exports, import() calls and import() types. */
export function importsOf(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) found.push(arg.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      found.push(node.moduleReference.expression.text);
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

const folderOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '.');

interface Graph {
  readonly edges: Map<string, string[]>;
  readonly violations: string[];
}

function buildGraph(): Graph {
  const edges = new Map<string, string[]>();
  const violations: string[] = [];
  for (const path of sourceFiles(SRC)) {
    const rel = posixPath(relative(SRC, path));
    const targets: string[] = [];
    for (const specifier of importsOf(path, readFileSync(path, 'utf8'))) {
      const target = resolveSpecifier(rel, specifier);
      if (target === undefined) continue;
      if (target.startsWith('../')) {
        violations.push(`src/${rel} imports '${specifier}': src/ does not import from outside src/`);
        continue;
      }
      targets.push(target);
      const from = folderOf(rel);
      const to = folderOf(target);
      if (from === to) continue;
      for (const rule of RULES) {
        if (rule.from(from) && (rule.forbidden.includes(to) || rule.forbidden.includes('*'))) {
          violations.push(`src/${rel} imports '${specifier}' (src/${target}): ${rule.text}`);
        }
      }
    }
    edges.set(rel, [...new Set(targets)].sort());
  }
  for (const [file, targets] of edges) {
    for (const target of targets) {
      if (!edges.has(target)) violations.push(`src/${file} imports src/${target}, which does not exist`);
    }
  }
  return { edges, violations };
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
  assert.deepEqual(importsOf('x.ts', text), ['./a.js', '../b/b.js', './c.js', './d.js', './e.js', './f.js', 'node:fs']);
});

const graph = buildGraph();

test('every folder of src/ imports only what the layering rules allow', () => {
  assert.ok(graph.edges.size > 100, `found only ${graph.edges.size} source files under ${dirname(SRC)}/src`);
  assert.deepEqual(graph.violations, [], `${graph.violations.length} forbidden imports:\n  ${graph.violations.join('\n  ')}`);
});

test('no import cycles between the files of src/', () => {
  const found = cycles(graph.edges);
  assert.deepEqual(found, [], `${found.length} import cycles:\n  ${found.map((c) => c.join(' -> ')).join('\n  ')}`);
});
