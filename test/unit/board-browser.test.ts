import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { exerciseShares, type Board, type StudentResults } from '../../src/core/board-model.js';
import { boardView, paceChart, type BoardView } from '../../src/ui/board-page.js';
import { serveBoard } from '../../src/ui/board-server.js';
import { launchBrowser } from '../helpers/browser.js';

const exercises = [
  { id: 'smtp-simple', title: 'Envoyer un message simple' },
  { id: 'pop-login', title: 'Se connecter en POP3' },
];
const seat = (student: number, at: (string | null)[]): StudentResults => ({
  student,
  exercises: exercises.map((e, i) => ({ ...e, done: at[i] !== null, at: at[i] ?? null, evidence: null })),
});
const view = (students: StudentResults[]): BoardView => {
  const board: Board = {
    class: 'bb1',
    lab: 'smtp-pop-imap',
    exercises,
    students,
    stuckAfterMinutes: 15,
    shares: exerciseShares(exercises, students),
  };
  return boardView(board);
};

describe("the board's pace chart in a browser", { timeout: 5 * 60_000 }, () => {
  let browser: Browser | undefined;
  const stop = new AbortController();
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    stop.abort();
    await browser?.close();
  });

  it('shows that nothing is done, then draws the chart as credits come, under its own CSP', async () => {
    let current = view([seat(1, [null, null]), seat(2, [null, null])]);
    const { port } = await serveBoard({
      ask: () => Promise.resolve(current),
      listen: '127.0.0.1',
      port: 0,
      key: '',
      interval: 50,
      signal: stop.signal,
    });
    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    assert.match(await page.innerText('#pace'), /^No exercise done yet/);

    // Two students earn three credits: the page redraws the chart from the stream.
    current = view([
      seat(1, ['2026-11-26T09:10:00.000Z', '2026-11-26T09:40:00.000Z']),
      seat(2, ['2026-11-26T09:20:00.000Z', null]),
    ]);
    await page.waitForSelector('#pace-line', { timeout: 15_000 });
    const server = /points="([^"]+)"/.exec(paceChart(current.pace, 4))![1];
    assert.equal(await page.getAttribute('#pace-line', 'points'), server, 'the page draws what the server draws');
    assert.equal((await page.getAttribute('#pace-line', 'points'))!.split(' ').length, 6, 'a step per credit');
    assert.match((await page.getAttribute('#pace-svg', 'aria-label')) ?? '', /^3 exercises done of 4, from /);
    assert.equal(await page.getAttribute('#cell-2-smtp-simple', 'class'), 'done');

    // A class whose credits are gone (reset --progress) shows the empty state again.
    current = view([seat(1, [null, null]), seat(2, [null, null])]);
    await page.waitForSelector('#pace-empty', { timeout: 15_000 });
    assert.deepEqual(problems, [], 'the page broke its own Content-Security-Policy, or threw');
    await page.close();
  });
});
