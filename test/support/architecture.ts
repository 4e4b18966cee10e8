/**
 * The import-graph checker behind test/unit/architecture.test.ts (docs/ARCHITECTURE.md): reads
 * sources with the TypeScript compiler (no regexes), resolves relative imports to files, and
 * reports cycles, imports that do not go strictly downward in rank, and over-long functions.
 * Pure functions over in-memory sources, so each rule can be tried on a planted violation.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import ts from 'typescript';

/** One source file: a path relative to the repository root (POSIX separators) and its text. */
export interface Source {
  path: string;
  text: string;
}

/** One module specifier a file names, where, and whether only types come through it. */
export interface ImportRef {
  specifier: string;
  line: number;
  typeOnly: boolean;
}

/** One broken rule. `key` names it without line numbers (`message` has them). */
export interface Violation {
  rule: 'file-cycle' | 'folder-cycle' | 'rank' | 'unranked' | 'src-imports-cli' | 'cli-deep-import' | 'long-function';
  key: string;
  message: string;
}

/** A file-to-file edge: `from` imports `to` at `line`. */
export interface Edge {
  from: string;
  to: string;
  line: number;
}

const lineOf = (sf: ts.SourceFile, pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;

/** Every static import/export-from, dynamic `import('…')` with a literal, and `import('…')` type in a file. */
export function importsOf(path: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ImportRef[] = [];
  const add = (spec: ts.Node | undefined, at: ts.Node, typeOnly: boolean) => {
    if (spec && ts.isStringLiteralLike(spec))
      out.push({ specifier: spec.text, line: lineOf(sf, at.getStart(sf)), typeOnly });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n))
      add(n.moduleSpecifier, n, n.importClause?.phaseModifier === ts.SyntaxKind.TypeKeyword);
    else if (ts.isExportDeclaration(n)) add(n.moduleSpecifier, n, n.isTypeOnly);
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference))
      add(n.moduleReference.expression, n, n.isTypeOnly);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) add(n.arguments[0], n, false);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) add(n.argument.literal, n, true);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The file a relative specifier names (`./x.js` → `dir/x.ts`), or null for packages and node built-ins. */
export function resolveImport(from: string, specifier: string, files: ReadonlySet<string>): string | null {
  if (!specifier.startsWith('.')) return null;
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  const candidates = [base, base.replace(/\.(m?)js$/, '.$1ts'), `${base}.ts`, `${base}/index.ts`];
  return candidates.find((c) => files.has(c)) ?? candidates[1]!;
}

/** File edges between the given sources; a relative import of a file outside them names the .ts it would be. */
export function fileEdges(sources: readonly Source[]): Edge[] {
  const files = new Set(sources.map((s) => s.path));
  const edges: Edge[] = [];
  for (const s of sources) {
    for (const ref of importsOf(s.path, s.text)) {
      const to = resolveImport(s.path, ref.specifier, files);
      if (to !== null) edges.push({ from: s.path, to, line: ref.line });
    }
  }
  return edges;
}

/**
 * The architectural unit of a file: each folder under src/ is one unit, each file directly in src/
 * or cli/ is its own unit, and each folder under cli/ (cli/commands) is one unit.
 */
export function unitOf(path: string): string {
  const parts = path.split('/');
  return parts.length <= 2 ? path : `${parts[0]}/${parts[1]}`;
}

/** Strongly connected components with more than one member or a self-edge (Tarjan), members sorted. */
export function cycles(edges: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    next.get(e.from)!.push(e.to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (next.get(v) ?? []).includes(v)) out.push(scc.sort());
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) strong(v);
  return out.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

const describe = (edges: readonly Edge[]) => edges.map((e) => `${e.from}:${e.line} -> ${e.to}`).join('; ');

/** Cycles among files, and among units (two units that import each other, directly or around a ring). */
export function cycleViolations(edges: readonly Edge[]): Violation[] {
  const out: Violation[] = [];
  for (const scc of cycles(edges)) {
    const inside = edges.filter((e) => scc.includes(e.from) && scc.includes(e.to));
    out.push({ rule: 'file-cycle', key: `file-cycle: ${scc.join(' ')}`, message: describe(inside) });
  }
  const unitEdges = edges.map((e) => ({ from: unitOf(e.from), to: unitOf(e.to) })).filter((e) => e.from !== e.to);
  for (const scc of cycles(unitEdges)) {
    const inside = edges.filter(
      (e) => unitOf(e.from) !== unitOf(e.to) && scc.includes(unitOf(e.from)) && scc.includes(unitOf(e.to)),
    );
    out.push({ rule: 'folder-cycle', key: `folder-cycle: ${scc.join(' ')}`, message: describe(inside) });
  }
  return out;
}

/**
 * Layering: src/ never imports cli/; cli/ imports only src/index.ts from src/; otherwise an import
 * between units goes to a unit of strictly lower rank. A unit missing from `ranks` is reported.
 */
export function layerViolations(edges: readonly Edge[], ranks: Readonly<Record<string, number>>): Violation[] {
  const out: Violation[] = [];
  const unranked = new Set<string>();
  for (const e of edges) {
    const [from, to] = [unitOf(e.from), unitOf(e.to)];
    const where = `${e.from}:${e.line} imports ${e.to}`;
    const key = `${e.from} -> ${e.to}`;
    if (from === to) continue;
    if (from.startsWith('src/') && to.startsWith('cli/')) {
      out.push({
        rule: 'src-imports-cli',
        key: `src-imports-cli: ${key}`,
        message: `${where}: src/ never imports cli/`,
      });
    } else if (from.startsWith('cli/') && to.startsWith('src/') && to !== 'src/index.ts') {
      out.push({
        rule: 'cli-deep-import',
        key: `cli-deep-import: ${key}`,
        message: `${where}: cli/ imports only the public API, src/index.ts`,
      });
    }
    for (const u of [from, to]) {
      if (ranks[u] === undefined && !unranked.has(u)) {
        unranked.add(u);
        out.push({
          rule: 'unranked',
          key: `unranked: ${u}`,
          message: `${u} has no rank: add it to the rank table (test and docs/ARCHITECTURE.md)`,
        });
      }
    }
    const [rf, rt] = [ranks[from], ranks[to]];
    if (rf !== undefined && rt !== undefined && rt >= rf && !(from.startsWith('src/') && to.startsWith('cli/'))) {
      out.push({
        rule: 'rank',
        key: `rank: ${key}`,
        message: `${where}: ${from} (rank ${rf}) may import only units of lower rank, not ${to} (rank ${rt})`,
      });
    }
  }
  return out;
}

/** The name a function is known by: its own, the variable or property it is assigned to, or "(anonymous)". */
function functionName(n: ts.Node, sf: ts.SourceFile): string {
  const named = n as ts.Node & { name?: ts.Node };
  if (ts.isConstructorDeclaration(n)) return 'constructor';
  if (named.name) return named.name.getText(sf);
  const p = n.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))
    return p.name.getText(sf);
  return '(anonymous)';
}

const FUNCTION_KINDS = new Set([
  ts.SyntaxKind.FunctionDeclaration,
  ts.SyntaxKind.FunctionExpression,
  ts.SyntaxKind.ArrowFunction,
  ts.SyntaxKind.MethodDeclaration,
  ts.SyntaxKind.Constructor,
  ts.SyntaxKind.GetAccessor,
  ts.SyntaxKind.SetAccessor,
]);

/**
 * Functions (declarations, methods, arrows, function expressions) longer than `max` lines, counted
 * from the function's first line to its last. The key names the function by its path of enclosing
 * function and class names (`registerAudit › (anonymous)`), with `#2`… for repeats.
 */
export function longFunctions(source: Source, max = 100): Violation[] {
  const sf = ts.createSourceFile(source.path, source.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Violation[] = [];
  const seen = new Map<string, number>();
  const visit = (n: ts.Node, scope: string[]): void => {
    let inner = scope;
    if (ts.isClassLike(n)) inner = [...scope, n.name?.getText(sf) ?? '(class)'];
    if (FUNCTION_KINDS.has(n.kind) && (n as ts.FunctionLikeDeclaration).body) {
      inner = [...scope, functionName(n, sf)];
      const lines = lineOf(sf, n.getEnd()) - lineOf(sf, n.getStart(sf)) + 1;
      let name = inner.join(' › ');
      const k = (seen.get(name) ?? 0) + 1;
      seen.set(name, k);
      if (k > 1) name += ` #${k}`;
      if (lines > max)
        out.push({
          rule: 'long-function',
          key: `long-function: ${source.path} ${name}`,
          message: `${source.path}:${lineOf(sf, n.getStart(sf))} ${name} is ${lines} lines (at most ${max})`,
        });
    }
    ts.forEachChild(n, (c) => visit(c, inner));
  };
  visit(sf, []);
  return out;
}

/** Every rule over a set of sources. */
export function checkArchitecture(sources: readonly Source[], ranks: Readonly<Record<string, number>>): Violation[] {
  const edges = fileEdges(sources);
  return [...cycleViolations(edges), ...layerViolations(edges, ranks), ...sources.flatMap((s) => longFunctions(s))];
}

/** Every .ts file (not .d.ts) under the given folders of `root`, as repository-relative sources. */
export function readSources(root: string, folders: readonly string[]): Source[] {
  const out: Source[] = [];
  const walk = (rel: string) => {
    for (const d of readdirSync(posix.join(root, rel), { withFileTypes: true })) {
      const p = `${rel}/${d.name}`;
      if (d.isDirectory()) walk(p);
      else if (d.name.endsWith('.ts') && !d.name.endsWith('.d.ts'))
        out.push({ path: p, text: readFileSync(posix.join(root, p), 'utf8') });
    }
  };
  for (const f of folders) walk(f);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
