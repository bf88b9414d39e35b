import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Board } from '../../src/core/board-model.js';
import { boardCsv, boardTable } from '../../src/ui/board.js';

const exercises = [
  { id: 'smtp-simple', title: 'Envoyer un message simple' },
  { id: 'pop-login', title: 'Se connecter en POP3' },
];
const board: Board = {
  class: 'td1',
  lab: 'smtp-pop-imap',
  exercises,
  students: [
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
  ],
};

describe('class board', () => {
  it('draws students × exercises with totals, a sick student marked, and a legend', () => {
    const text = boardTable(board);
    assert.match(text, /^Class td1, lab smtp-pop-imap$/m);
    assert.match(text, /^1 +✔ +· +1\/2$/m);
    assert.match(text, /^2 +· +· +0\/2 +sidecar down \(ECONNREFUSED\)$/m);
    assert.match(text, /^done by +1 +0$/m);
    assert.match(text, /^ 2 +pop-login +Se connecter en POP3$/m);
  });

  it('writes a CSV sheet a grader can import', () => {
    assert.equal(
      boardCsv(board),
      'student,smtp-simple,pop-login,done,total,status\n1,1,0,1,2,ok\n2,0,0,0,2,sidecar down (ECONNREFUSED)\n',
    );
  });
});
