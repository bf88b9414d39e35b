import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { packagePath } from '../../src/paths.js';

const run = promisify(execFile);
const SCRIPT = packagePath('scripts', 'check-imports.mjs');

/** The script run over a tree: its exit code and what it printed. */
async function checkImports(root: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(process.execPath, [SCRIPT, root]);
    return { code: 0, output: stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

describe('the import graph check', () => {
  let root: string;
  /** Writes a source tree: file -> the files it imports. */
  const tree = async (files: Record<string, string[]>) => {
    await rm(root, { recursive: true, force: true });
    for (const [file, imports] of Object.entries(files)) {
      const full = path.join(root, file);
      await mkdir(path.dirname(full), { recursive: true });
      const from = path.posix.dirname(file);
      const lines = imports.map((target) => {
        const spec = path.posix.relative(from, target).replace(/\.ts$/, '.js');
        return `import type { X } from '${spec.startsWith('.') ? spec : `./${spec}`}';`;
      });
      await writeFile(full, `${lines.join('\n')}\nexport type X = 1;\n`);
    }
  };
  const layered = {
    'cli.ts': ['commands/up.ts'],
    'commands/up.ts': ['core/plan.ts', 'ui/tables.ts', 'docker/select-engine.ts'],
    'ui/tables.ts': ['core/plan.ts'],
    'core/plan.ts': ['docker/engine.ts', 'errors.ts'],
    'docker/select-engine.ts': ['docker/engine.ts'],
    'docker/engine.ts': ['errors.ts'],
    'sidecar/main.ts': ['core/plan.ts'],
    'errors.ts': [],
  };

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'labctl-imports-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('passes labctl’s own src/', async () => {
    const { code, output } = await checkImports(packagePath('src'));
    assert.equal(code, 0, output);
    assert.match(output, /layers one way, no circle/);
  });

  it('fails (exit 1) on an arrow back up, naming it, and on the circle it makes', async () => {
    await tree({ ...layered, 'docker/engine.ts': ['errors.ts', 'core/plan.ts'] });
    const { code, output } = await checkImports(root);
    assert.equal(code, 1);
    assert.match(output, /^docker\/engine\.ts → core\/plan\.ts: docker may import only base$/m);
    assert.match(output, /^circle: core\/plan\.ts → docker\/engine\.ts → core\/plan\.ts$/m);
  });

  // The same check, loaded once in this process.
  const problems = async (files: Record<string, string[]>): Promise<string[]> => {
    await tree(files);
    const { checkImports: check } = (await import(pathToFileURL(SCRIPT).href)) as {
      checkImports: (root: string) => { problems: string[] };
    };
    return check(root).problems;
  };

  it('passes a tree whose imports point down the layers', async () => {
    assert.deepEqual(await problems(layered), []);
  });

  it('finds a circle inside one layer', async () => {
    assert.deepEqual(
      await problems({ ...layered, 'core/lab.ts': ['core/ports.ts'], 'core/ports.ts': ['core/lab.ts'] }),
      ['circle: core/lab.ts → core/ports.ts → core/lab.ts'],
    );
  });

  it('finds an import of the sidecar from the CLI, and a file in no layer', async () => {
    const found = await problems({ ...layered, 'commands/logs.ts': ['sidecar/main.ts'], 'probe.ts': ['core/plan.ts'] });
    assert.deepEqual(found.sort(), [
      'commands/logs.ts → sidecar/main.ts: commands may import only ui, core, docker, base',
      'probe.ts: in no layer (put it in one of cli, commands, ui, core, docker, sidecar, base)',
    ]);
  });
});
