import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { creditTimes, exerciseShares, markStuck, type Board, type StudentResults } from '../../src/core/board-model.js';
import { boardPage, boardView } from '../../src/ui/board-page.js';
import { boardCsv, boardTable } from '../../src/ui/board.js';

const exercises = [
  { id: 'smtp-simple', title: 'Envoyer un message simple' },
  { id: 'pop-login', title: 'Se connecter en POP3' },
];
const students: StudentResults[] = [
  {
    student: 1,
    exercises: [
      { ...exercises[0]!, done: true, at: '2026-11-26T09:52:41.000Z', evidence: 'message X' },
      { ...exercises[1]!, done: false, at: null, evidence: null },
    ],
  },
  {
    student: 2,
    error: 'sidecar down (ECONNREFUSED)',
    exercises: exercises.map((e) => ({ ...e, done: false, at: null, evidence: null })),
  },
];
const board: Board = {
  class: 'td1',
  lab: 'smtp-pop-imap',
  exercises,
  students,
  stuckAfterMinutes: 15,
  shares: exerciseShares(exercises, students),
};

describe('class board', () => {
  it('marks an exercise done only after the end, and says the end and who has extra time', () => {
    const late = {
      ...board,
      students: [
        {
          ...students[0]!,
          exercises: students[0]!.exercises.map((e) =>
            e.done ? e : { ...e, at: '2026-12-02T15:00:01.000Z', evidence: 'util1', afterEnd: true },
          ),
        },
        students[1]!,
      ],
      session: {
        end: '2026-12-02T15:00:00.000Z',
        endText: '16:00',
        extra: [{ student: 2, end: '2026-12-02T15:20:00.000Z', endText: '16:20' }],
      },
    };
    const text = boardTable(late);
    assert.match(text, /^Session ends at 16:00 · extra time: student 2 until 16:20$/m);
    assert.match(text, /^1 +✔ +! +1\/2$/m);
    assert.match(text, /^! = done only after the end of the session: not counted$/m);
    assert.doesNotMatch(boardTable(board), /^!|Session ends/m);
  });

  it('draws students × exercises with totals, a sick student marked, and a legend', () => {
    const text = boardTable(board);
    assert.match(text, /^Class td1, lab smtp-pop-imap$/m);
    assert.match(text, /^1 +✔ +· +1\/2$/m);
    assert.match(text, /^2 +· +· +0\/2 +sidecar down \(ECONNREFUSED\)$/m);
    assert.match(text, /^done by +1 +0$/m);
    assert.match(text, /^share +50% +0%$/m);
    assert.doesNotMatch(text, /stuck/);
    assert.match(text, /^ 2 +pop-login +Se connecter en POP3$/m);
  });

  it('writes a CSV sheet a grader can import', () => {
    assert.equal(
      boardCsv(board),
      'student,smtp-simple,pop-login,done,total,status,smtp-simple time,pop-login time\n' +
        '1,1,0,1,2,ok,2026-11-26T09:52:41.000Z,\n2,0,0,0,2,sidecar down (ECONNREFUSED),,\n',
    );
  });
});

describe('stuck students and the share of the class', () => {
  const at = (iso: string) => new Date(iso);
  const working = (student: number, lastProgressAt: string | undefined, done: boolean[]): StudentResults => ({
    student,
    exercises: exercises.map((e, i) => ({ ...e, done: done[i]!, at: null, evidence: null })),
    ...(lastProgressAt !== undefined && { lastProgressAt }),
  });

  it('marks a student with no progress for the set time, and only then', () => {
    const class3 = [
      working(1, '2026-11-26T09:00:00.000Z', [true, false]),
      working(2, '2026-11-26T09:50:00.000Z', [true, false]),
      working(3, '2026-11-26T09:00:00.000Z', [true, true]),
    ];
    const marked = markStuck(class3, 15, at('2026-11-26T10:00:30Z'));
    assert.equal(marked[0]!.stuckMinutes, 60);
    assert.equal(marked[1]!.stuckMinutes, undefined, '10 min without progress is not stuck at 15');
    assert.equal(marked[2]!.stuckMinutes, undefined, 'a student who has done everything is not stuck');
    assert.equal(markStuck(class3, 5, at('2026-11-26T10:00:30Z'))[1]!.stuckMinutes, 10, '--stuck 5');
    assert.equal(markStuck(class3, 15, at('2026-11-26T09:14:59Z'))[0]!.stuckMinutes, undefined, 'at 14 min 59 s');
    assert.equal(markStuck(class3, 15, at('2026-11-26T09:15:00Z'))[0]!.stuckMinutes, 15, 'at 15 min');
  });

  it('does not mark a student whose sidecar is down, or does not say when they last progressed', () => {
    const down = { ...working(1, '2026-11-26T08:00:00.000Z', [false, false]), error: 'sidecar down (x)' };
    const old = working(2, undefined, [false, false]);
    const marked = markStuck([down, old], 15, at('2026-11-26T10:00:00Z'));
    assert.ok(marked.every((s) => s.stuckMinutes === undefined));
  });

  it('shows stuck students and the shares in check, and on the board page', () => {
    const now = at('2026-11-26T10:00:00Z');
    const list = markStuck(
      [
        working(1, '2026-11-26T09:30:00.000Z', [true, false]),
        working(2, '2026-11-26T09:58:00.000Z', [true, true]),
        working(3, '2026-11-26T09:59:00.000Z', [false, false]),
        working(4, '2026-11-26T09:20:00.000Z', [false, false]),
      ],
      15,
      now,
    );
    const b: Board = { ...board, students: list, shares: exerciseShares(exercises, list) };
    assert.deepEqual(
      b.shares.map((x) => [x.id, x.done, x.students, x.percent]),
      [
        ['smtp-simple', 2, 4, 50],
        ['pop-login', 1, 4, 25],
      ],
    );
    const text = boardTable(b);
    assert.match(text, /^1 +✔ +· +1\/2 +stuck: no progress for 30 min$/m);
    assert.match(text, /^3 +· +· +0\/2$/m);
    assert.match(text, /^4 +· +· +0\/2 +stuck: no progress for 40 min$/m);
    assert.match(text, /^share +50% +25%$/m);
    assert.match(text, /^2 stuck \(no progress for 15 min or more\): student 1, 4$/m);
    const page = boardPage(boardView(b), '/api/stream');
    assert.match(page, /<tr id="student-1" class="stuck">(?:(?!<tr).)*stuck: no progress for 30 min/s);
    assert.match(page, /<tr id="student-3" class="up">/);
    assert.match(page, /<td id="share-pop-login" title="1\/4">25%<\/td>/);
  });
});

describe("the class's pace on the board", () => {
  const credit = (done: boolean, at: string | null, afterEnd?: true) => ({ done, at, evidence: null, afterEnd });
  const seat = (student: number, results: ReturnType<typeof credit>[]): StudentResults => ({
    student,
    exercises: results.map((r, i) => ({
      ...exercises[i]!,
      done: r.done,
      at: r.at,
      evidence: r.evidence,
      ...(r.afterEnd && { afterEnd: r.afterEnd }),
    })),
  });
  const boardOf = (list: StudentResults[]): Board => ({
    ...board,
    students: list,
    shares: exerciseShares(exercises, list),
  });
  /** The chart, as the page first shows it (the page's script holds the drawing code, and its markup, too). */
  const chartOf = (page: string) => /<div id="pace">(.*?)<\/div><\/figure>/s.exec(page)?.[1] ?? '';
  /** The chart's line: [x, y] per point. */
  const line = (chart: string) => {
    const points = /<polyline id="pace-line" points="([^"]+)"/.exec(chart)?.[1];
    assert.ok(points, 'no pace line in the page');
    return points.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
  };
  const clock = (iso: string) => new Date(iso).toTimeString().slice(0, 5);

  it('draws a step per credit, at its time, from the first credit to the last, whoever earned it', () => {
    const list = [
      seat(1, [credit(true, '2026-11-26T09:10:00.000Z'), credit(true, '2026-11-26T09:40:00.000Z')]),
      // Proved after the end: not done, not on the chart. Done without a time: not on the chart either.
      seat(2, [credit(true, '2026-11-26T09:20:00.000Z'), credit(false, '2026-11-26T11:30:00.000Z', true)]),
      seat(3, [credit(true, null), credit(false, null)]),
      // A sidecar that cannot save still holds its credits in memory: they count.
      { ...seat(4, [credit(false, null), credit(true, '2026-11-26T10:10:00.000Z')]), error: 'progress not saved: x' },
    ];
    const view = boardView(boardOf(list));
    const times = ['2026-11-26T09:10:00.000Z', '2026-11-26T09:20:00.000Z', '2026-11-26T09:40:00.000Z'];
    assert.deepEqual(view.pace, [...times, '2026-11-26T10:10:00.000Z']);
    assert.deepEqual(creditTimes(list), view.pace);

    const page = chartOf(boardPage(view, '/api/stream'));
    assert.doesNotMatch(page, /id="pace-empty"/);
    assert.match(page, /<svg id="pace-svg" [^>]*aria-label="4 exercises done of 8, from (\d\d:\d\d) to (\d\d:\d\d)">/);
    assert.ok(page.includes(`from ${clock(times[0]!)} to ${clock('2026-11-26T10:10:00.000Z')}`));
    assert.match(page, />4 done of 8</);
    // The line: up one step at each credit; across, as far as its time is from the first (60 min in all).
    const points = line(page);
    assert.equal(points.length, 8, points.join(' '));
    const steps = points.filter((_, i) => i % 2 === 1);
    const [x0, bottom] = points[0]!;
    const x60 = steps[3]![0];
    assert.deepEqual(
      steps.map(([x]) => Math.round((60 * (x - x0)) / (x60 - x0))),
      [0, 10, 30, 60],
      'minutes after the first credit',
    );
    const height = bottom - steps[3]![1];
    assert.deepEqual(
      steps.map(([, y]) => Math.round((4 * (bottom - y)) / height)),
      [1, 2, 3, 4],
      'exercises done',
    );
    for (let i = 0; i < points.length; i += 2)
      assert.equal(points[i]![0], points[i + 1]![0], 'a step goes straight up');
  });

  it('says that nothing is done yet, instead of an empty chart; a credit after the end alone does not count', () => {
    for (const list of [
      [seat(1, [credit(false, null), credit(false, null)])],
      [seat(1, [credit(false, '2026-11-26T11:30:00.000Z', true), credit(false, null)])],
      [],
    ]) {
      const view = boardView(boardOf(list));
      assert.deepEqual(view.pace, []);
      const chart = chartOf(boardPage(view, '/api/stream'));
      assert.match(chart, /^<p id="pace-empty">No exercise done yet: the pace of the class shows here/);
      assert.doesNotMatch(chart, /<svg/);
    }
  });

  it('spans a minute for one credit, so that its step shows', () => {
    const page = chartOf(
      boardPage(boardView(boardOf([seat(1, [credit(true, '2026-11-26T09:10:30.000Z'), credit(false, null)])])), '/'),
    );
    const points = line(page);
    assert.equal(points.length, 3, 'up at the credit, then across to the end of the minute');
    assert.ok(points[2]![0] > points[1]![0] + 100, points.join(' '));
    assert.match(page, />1 done of 2</);
  });
});
