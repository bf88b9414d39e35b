/**
 * The tests' port blocks (test/helpers/ports.ts) are handed out machine-wide: the integration and multinode suites run
 * side by side, each file in its own process, and two of them once chose the same block (CI: port-taken on 9149).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PORT_BLOCK } from '../../src/core/ports.js';

const helper = fileURLToPath(new URL('../helpers/ports.js', import.meta.url));

/**
 * A separate process that asks for `count` blocks of `students` (no engine consulted), as a test file does, and
 * lives on, holding them, until `end` is called.
 */
async function choose(tmp: string, students: number, count: number) {
  const script = `const { freeBasePorts } = await import(${JSON.stringify(helper)});
    console.log(JSON.stringify(await freeBasePorts(${students}, ${count}, { engines: [] })));
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['pipe', 'pipe', 'inherit'],
    timeout: 30_000,
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  for await (const chunk of child.stdout) {
    out += chunk as string;
    if (out.includes('\n')) break;
  }
  if (!out.includes('\n'))
    throw new Error(`the chooser printed no blocks (exit ${child.exitCode}): see its stderr above`);
  return {
    bases: JSON.parse(out) as number[],
    end: async () => {
      child.stdin.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

describe('test port blocks, shared by every test process on the machine', () => {
  let tmp = '';
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'labctl-ports-'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('processes asking at the same time get blocks that do not overlap', async () => {
    const students = 5;
    const processes = await Promise.all(Array.from({ length: 6 }, () => choose(tmp, students, 3)));
    await Promise.all(processes.map((p) => p.end()));
    const all = processes.flatMap((p) => p.bases);
    assert.equal(all.length, 18);
    const spans = all
      .map((b) => [b + PORT_BLOCK, b + (students + 1) * PORT_BLOCK - 1] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      assert.ok(
        spans[i]![0] > spans[i - 1]![1],
        `blocks overlap: ${JSON.stringify(spans[i - 1])} and ${JSON.stringify(spans[i])}`,
      );
    }
  });

  it("a dead process's blocks and lock are taken back, and a process that ends leaves nothing", async () => {
    const dir = path.join(tmp, 'labctl-test-ports');
    // A process that no longer runs (pid 2^22 + 1 is above Linux's pid_max) held every block there is.
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `0-65535.${2 ** 22 + 1}`), '');
    await writeFile(path.join(dir, 'lock'), String(2 ** 22 + 1));
    const chooser = await choose(tmp, 1, 1);
    assert.equal(chooser.bases.length, 1);
    assert.equal((await readdir(dir)).length, 1, 'the live process holds its block');
    await chooser.end();
    assert.deepEqual(await readdir(dir), []);
  });
});
