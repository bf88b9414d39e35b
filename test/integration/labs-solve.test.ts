import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { Board } from '../../src/core/board-model.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { classBoard, doneIds, sidecarSettled } from '../helpers/td.js';

/**
 * Every lab proves itself: its `solve` script does all its exercises as a student would (real clients against the
 * student's own server), and the lab's rules must credit each of them to that student, none to a classmate, and
 * none once progress is reset. A lab whose rule is wrong (a credit that never comes, or comes for the wrong thing)
 * fails here.
 */
const LABS = fileURLToPath(new URL('../../../labs/', import.meta.url));
const labs = readdirSync(LABS, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(LABS, d.name, 'lab.yaml')))
  .map((d) => d.name);
const run = promisify(execFile);

/** The lab's exercise ids, read from its file (not from labctl): what the solve script must earn. */
const exerciseIds = (lab: string) =>
  (parse(readFileSync(path.join(LABS, lab, 'lab.yaml'), 'utf8')) as { exercises: { id: string }[] }).exercises
    .map((e) => e.id)
    .sort();

/** What the board says of the student: done ids, and for the others their hint, to read when a test fails. */
const summary = (b: Board, student: number) =>
  b.students
    .find((s) => s.student === student)!
    .exercises.map((e) => `${e.done ? '✔' : '·'} ${e.id}${e.done ? '' : e.hint ? `: ${e.hint}` : ''}`)
    .join('\n');

it('there are at least two labs, and each ships an executable solve script', () => {
  assert.ok(labs.length >= 2, `labs/: ${labs.join(', ')}`);
  for (const lab of labs) accessSync(path.join(LABS, lab, 'solve'), constants.X_OK);
});

describe('every lab, side by side on one engine, proves itself with its solve script', { timeout: 1_800_000 }, () => {
  /** One class of two students per lab, all up at once. */
  const classes = labs.map((lab, i) => ({
    lab,
    name: `sv${process.pid}l${i}`,
    info: undefined as unknown as ClassInfo,
  }));
  let dir = '';

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-solve-'));
    for (const c of classes) {
      await cleanClass(c.name);
      const up = await labctl([...upArgs(c.name, 2, await freeBasePort(2)), '--lab', c.lab]);
      assert.equal(up.code, 0, up.stderr);
      c.info = await labctlJson<ClassInfo>(['info', '--class', c.name]);
      assert.equal(c.info.lab, c.lab);
    }
  });

  after(async () => {
    for (const c of classes) await cleanClass(c.name);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('status of every class shows each class with its lab; each class answers on all its ports, none shared', async () => {
    const rows = await labctlJson<{ class: string; lab: string; student: number; services: Record<string, boolean> }[]>(
      ['status'],
    );
    for (const c of classes) {
      const mine = rows.filter((r) => r.class === c.name);
      assert.deepEqual(
        mine.map((r) => [r.student, r.lab]),
        [
          [1, c.lab],
          [2, c.lab],
        ],
      );
      const own = await labctlJson<{ services: Record<string, boolean> }[]>(['status', '--class', c.name]);
      for (const r of own) assert.ok(Object.values(r.services).every(Boolean), JSON.stringify(r));
    }
    const ports = classes.flatMap((c) => c.info.students.flatMap((s) => Object.values(s.ports)));
    assert.equal(new Set(ports).size, ports.length, 'no two services of the classes share a port');
  });

  for (const c of classes) {
    it(`${c.lab}: solve as student 1 earns every exercise of the lab file, and student 2 nothing`, async () => {
      const card = path.join(dir, `${c.lab}.json`);
      await writeFile(card, JSON.stringify(await labctlJson(['info', '--class', c.name, '--student', '1'])));
      const solved = await run(path.join(LABS, c.lab, 'solve'), [card], { timeout: 300_000 }).catch(
        (e: { stdout?: string; stderr?: string; message: string }) =>
          assert.fail(`solve failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`),
      );
      const all = exerciseIds(c.lab);
      let board = await classBoard(c.name);
      for (let t = 0; t < 120 && doneIds(board, 1).length < all.length; t++) {
        await new Promise((r) => setTimeout(r, 250));
        board = await classBoard(c.name);
      }
      assert.deepEqual(doneIds(board, 1).sort(), all, `${summary(board, 1)}\n\nsolve said:\n${solved.stderr}`);
      // Student 2 did nothing: once their sidecar has read all there is, they still have nothing (the readiness
      // probes of up and status reached their ports too, and earn nothing, not even a hint).
      await sidecarSettled(c.info.students[1]!.ports.web!);
      board = await classBoard(c.name);
      assert.deepEqual(doneIds(board, 2), [], summary(board, 2));
      const hinted = board.students.find((s) => s.student === 2)!.exercises.filter((e) => e.hint);
      assert.deepEqual(hinted, [], "nor a hint: labctl's probes are not near misses");
    });

    it(`${c.lab}: nothing for either student once their progress is reset`, async () => {
      const reset = await labctl(['reset', '--class', c.name, '--all', '--progress', '--yes']);
      assert.equal(reset.code, 0, reset.stderr);
      for (const s of c.info.students) await sidecarSettled(s.ports.web!);
      const board = await classBoard(c.name);
      assert.deepEqual(doneIds(board, 1), [], summary(board, 1));
      assert.deepEqual(doneIds(board, 2), [], summary(board, 2));
    });
  }
});
