import { escapeHtml } from '../core/html.js';
import { DISK_NEAR_FULL, type Board } from '../core/board-model.js';
import { sessionLine, studentState } from './board.js';

/**
 * What the board shows, and all it sends to the projector's browser: per seat the name, the state (and how full the
 * student's disk is), and, per exercise,
 * done and its evidence (a cell's tooltip). No e-mail, student number, group, hint or time: whoever holds the board
 * key, or photographs the screen, learns no more than the room sees.
 */
export interface BoardView {
  class: string;
  lab: string;
  exercises: { id: string; title: string }[];
  stuckAfterMinutes: number;
  shares: Board['shares'];
  /** The graded session's end, and who has extra time, in a line (none: no time box). */
  session?: string;
  students: {
    student: number;
    name?: string;
    error?: string;
    stopped?: true;
    stuckMinutes?: number;
    disk?: Board['students'][number]['disk'];
    exercises: { id: string; done: boolean; evidence?: string }[];
  }[];
}

export function boardView(board: Board): BoardView {
  return {
    class: board.class,
    lab: board.lab,
    exercises: board.exercises.map(({ id, title }) => ({ id, title })),
    stuckAfterMinutes: board.stuckAfterMinutes,
    shares: board.shares,
    ...(board.session && { session: sessionLine(board.session) }),
    students: board.students.map((s) => ({
      student: s.student,
      ...(s.name !== undefined && { name: s.name }),
      ...(s.error !== undefined && { error: s.error }),
      ...(s.stopped && { stopped: s.stopped }),
      ...(s.stuckMinutes !== undefined && { stuckMinutes: s.stuckMinutes }),
      ...(s.disk !== undefined && { disk: s.disk }),
      exercises: s.exercises.map((e) => ({
        id: e.id,
        done: e.done,
        ...(e.done && e.evidence !== null && { evidence: e.evidence }),
      })),
    })),
  };
}

function rows(board: BoardView): string {
  return board.students
    .map((s) => {
      const done = s.exercises.filter((e) => e.done).length;
      const cells = board.exercises
        .map((e) => {
          const r = s.exercises.find((x) => x.id === e.id);
          const title = r?.done ? `${e.title}\n${r.evidence ?? ''}` : e.title;
          return `<td id="cell-${s.student}-${escapeHtml(e.id)}" class="${r?.done ? 'done' : 'todo'}" title="${escapeHtml(title)}">${r?.done ? '✔' : ''}</td>`;
        })
        .join('');
      const state = studentState(s) ? `<span class="why">${escapeHtml(studentState(s))}</span>` : '';
      return `<tr id="student-${s.student}" class="${rowClass(s)}"><th>${s.student}${s.name ? ` <span class="name">${escapeHtml(s.name)}</span>` : ''}</th>${cells}<td class="total">${done}/${s.exercises.length}</td><td class="state">${state}</td></tr>`;
    })
    .join('\n');
}

const rowClass = (s: BoardView['students'][number]) =>
  s.error ? 'down' : s.stopped ? 'stopped' : s.stuckMinutes !== undefined ? 'stuck' : 'up';

function shareRow(board: BoardView): string {
  const cells = board.shares
    .map((x) => `<td id="share-${escapeHtml(x.id)}" title="${x.done}/${x.students}">${x.percent}%</td>`)
    .join('');
  return `<tr id="shares"><th>share</th>${cells}<td></td><td></td></tr>`;
}

/**
 * The instructor's board; it redraws itself from the server-sent events at `stream`. Its inline script runs under
 * the Content-Security-Policy nonce the server sends with it.
 */
export function boardPage(board: BoardView, stream: string, nonce = ''): string {
  const head = board.exercises
    .map(
      (e, i) =>
        `<th class="ex" title="${escapeHtml(`${e.id}: ${e.title}`)}"><span>${i + 1}. ${escapeHtml(e.id)}</span></th>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>labctl board · ${escapeHtml(board.class)}</title>
<style>
 body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
 table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:center}
 th.ex{height:11rem;vertical-align:bottom;white-space:nowrap} th.ex span{writing-mode:vertical-rl;transform:rotate(180deg)}
 td.done{background:#2da44e;color:#fff} td.todo{background:#f3f4f6}
 tr.down th,tr.down td.todo{background:#ffd7d5} td.state{text-align:left;color:#b42318;border:none}
 tr.stuck th,tr.stuck td.todo{background:#fff1c2} tr.stuck td.state{color:#8a4b00}
 tr.stopped th,tr.stopped td.todo{background:#e5e7eb;color:#6b7280} tr.stopped td.state{color:#6b7280}
 #shares th,#shares td{font-size:.85em;color:#444;background:#fff}
 #updated{color:#666;font-size:.85em} #session{font-weight:bold}
</style></head><body>
<h1>Class ${escapeHtml(board.class)} · lab ${escapeHtml(board.lab)}</h1>
<p id="session"${board.session ? '' : ' hidden'}>${escapeHtml(board.session ?? '')}</p>
<p id="updated">Live: updates as students work. Green = done; a red row = that student's environment is down; a yellow row = no progress for ${board.stuckAfterMinutes} min or more (stuck); a grey row = stopped (labctl start brings it back).</p>
<table><thead><tr><th>student</th>${head}<th>total</th><th></th></tr></thead>
<tbody id="rows">
${rows(board)}
</tbody><tfoot>${shareRow(board)}</tfoot></table>
<script${nonce ? ` nonce="${escapeHtml(nonce)}"` : ''}>
const exercises = ${JSON.stringify(Object.fromEntries(board.exercises.map((e) => [e.id, e.title]))).replace(/</g, '\\u003c')};
const source = new EventSource(${JSON.stringify(stream)});
source.onmessage = (message) => {
  const board = JSON.parse(message.data);
  const session = document.getElementById('session');
  session.hidden = !board.session;
  session.textContent = board.session || '';
  for (const s of board.students) {
    const row = document.getElementById('student-' + s.student);
    if (!row) { location.reload(); return; }
    const stuck = s.stuckMinutes !== undefined;
    row.className = s.error ? 'down' : s.stopped ? 'stopped' : stuck ? 'stuck' : 'up';
    const full = s.disk && s.disk.percent >= ${DISK_NEAR_FULL} ? 'disk ' + s.disk.percent + '% full' : '';
    row.querySelector('.state').textContent =
      [s.error || (s.stopped ? 'stopped' : stuck ? 'stuck: no progress for ' + s.stuckMinutes + ' min' : ''), full].filter(Boolean).join('; ');
    let done = 0;
    for (const e of s.exercises) {
      const cell = document.getElementById('cell-' + s.student + '-' + e.id);
      if (!cell) continue;
      cell.className = e.done ? 'done' : 'todo';
      cell.textContent = e.done ? '✔' : '';
      cell.title = (exercises[e.id] || e.id) + (e.done ? '\\n' + (e.evidence || '') : '');
      if (e.done) done++;
    }
    row.querySelector('.total').textContent = done + '/' + s.exercises.length;
  }
  for (const x of board.shares) {
    const cell = document.getElementById('share-' + x.id);
    if (cell) { cell.textContent = x.percent + '%'; cell.title = x.done + '/' + x.students; }
  }
  document.getElementById('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '. Green = done; a red row = that student\\'s environment is down; a yellow row = stuck; a grey row = stopped.';
};
</script>
</body></html>
`;
}
