// Checks the import graph of src/ (run by `npm run lint`): every import, type-only and dynamic ones included, must
// point down the layers below, and no files may import each other in a circle. Prints each bad edge and each
// circle, and exits 1 when there is one. `node scripts/check-imports.mjs DIR` checks another tree (the tests do).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

// What each layer may import besides itself. The CLI reads cli → commands → core → docker (ui serves the commands
// and reads core); the sidecar is a second program over core; base is src/errors.ts and src/paths.ts, which every
// layer uses and which import nothing of src/.
export const LAYERS = {
  cli: ['commands', 'core', 'base'],
  commands: ['ui', 'core', 'docker', 'base'],
  ui: ['core', 'base'],
  core: ['docker', 'base'],
  docker: ['base'],
  sidecar: ['core', 'base'],
  base: [],
};
const ROOT_FILES = { 'cli.ts': 'cli', 'errors.ts': 'base', 'paths.ts': 'base' };

/** The layer of a file (a path relative to the source root), or undefined when it is in none. */
export function layerOf(file) {
  const [first, ...rest] = file.split('/');
  if (rest.length === 0) return ROOT_FILES[first];
  return first in LAYERS && first !== 'base' ? first : undefined;
}

function sourceFiles(dir, root = dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full, root);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path.relative(root, full).split(path.sep).join('/')] : [];
  });
}

/** The files of the tree that `file` imports (relative imports only: packages are no layer). */
function importsOf(root, file) {
  const { importedFiles } = ts.preProcessFile(readFileSync(path.join(root, file), 'utf8'), true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      return target.replace(/\.js$/, '.ts');
    });
}

/** The circles of the graph: its strongly connected components of more than one file (or a file importing itself). */
function circles(graph) {
  let index = 0;
  const indices = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), indices.get(w)));
    }
    if (low.get(v) !== indices.get(v)) return;
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v).includes(v)) found.push(component);
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found.map((component) => cyclePath(graph, new Set(component)));
}

/** One circle through a component, as the path a reader can follow: a → b → … → a. */
function cyclePath(graph, component) {
  const start = [...component].sort()[0];
  const previous = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v)) {
      if (w === start) {
        const cycle = [start];
        for (let u = v; u !== start; u = previous.get(u)) cycle.splice(1, 0, u);
        return [...cycle, start];
      }
      if (component.has(w) && !previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** Every problem of the tree at `root`, as lines to print. */
export function checkImports(root) {
  const files = sourceFiles(root);
  const graph = new Map(files.map((f) => [f, importsOf(root, f).filter((t) => files.includes(t))]));
  const problems = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    if (!from) {
      problems.push(`${file}: in no layer (put it in one of ${Object.keys(LAYERS).join(', ')})`);
      continue;
    }
    for (const target of targets) {
      const to = layerOf(target);
      if (to === undefined || to === from || LAYERS[from].includes(to)) continue;
      problems.push(`${file} → ${target}: ${from} may import only ${LAYERS[from].join(', ') || 'nothing of src/'}`);
    }
  }
  for (const cycle of circles(graph)) problems.push(`circle: ${cycle.join(' → ')}`);
  return { files: files.length, edges: [...graph.values()].reduce((n, t) => n + t.length, 0), problems };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = process.argv[2] ?? 'src';
  const { files, edges, problems } = checkImports(root);
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    console.error(`check-imports: ${problems.length} problem(s) in ${root}/ (the layers: README, Architecture).`);
    process.exit(1);
  }
  console.log(`check-imports: ${files} files, ${edges} imports, layers one way, no circle.`);
}
