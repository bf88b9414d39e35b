import { escapeHtml } from '../core/html.js';
import { creditTimes, DISK_NEAR_FULL, type Board } from '../core/board-model.js';
import { sessionLine, studentState } from './board.js';

/**
 * What the board shows, and all it sends to the projector's browser: per seat the name, the state (and how full the
 * student's disk is), and, per exercise, done and its evidence (a cell's tooltip); and the times of the class's
 * credits, all together, for the pace chart. No e-mail, student number, group, hint, or time of a student's credit:
 * whoever holds the board key, or photographs the screen, learns no more than the room sees.
 */
export interface BoardView {
  class: string;
  lab: string;
  exercises: { id: string; title: string }[];
  stuckAfterMinutes: number;
  shares: Board['shares'];
  /** The graded session's end, and who has extra time, in a line (none: no time box). */
  session?: string;
  /** When each credit of the class came (ISO), earliest first, not whose (see creditTimes). */
  pace: string[];
  students: {
    student: number;
    name?: string;
    /** Their node, on Swarm. */
    node?: string;
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
    pace: creditTimes(board.students),
    students: board.students.map((s) => ({
      student: s.student,
      ...(s.name !== undefined && { name: s.name }),
      ...(s.node !== undefined && { node: s.node }),
      ...((s.error ?? s.noServer) !== undefined && {
        error: [s.noServer && `no server: ${s.noServer}`, s.error].filter(Boolean).join('; '),
      }),
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
      return `<tr id="student-${s.student}" class="${rowClass(s)}"><th>${s.student}${s.name ? ` <span class="name">${escapeHtml(s.name)}</span>` : ''}${s.node ? ` <span class="node">on ${escapeHtml(s.node)}</span>` : ''}</th>${cells}<td class="total">${done}/${s.exercises.length}</td><td class="state">${state}</td></tr>`;
    })
    .join('\n');
}

const creditsPossible = (board: BoardView) => board.students.length * board.exercises.length;

const rowClass = (s: BoardView['students'][number]) =>
  s.error ? 'down' : s.stopped ? 'stopped' : s.stuckMinutes !== undefined ? 'stuck' : 'up';

function shareRow(board: BoardView): string {
  const cells = board.shares
    .map((x) => `<td id="share-${escapeHtml(x.id)}" title="${x.done}/${x.students}">${x.percent}%</td>`)
    .join('');
  return `<tr id="shares"><th>share</th>${cells}<td></td><td></td></tr>`;
}

/**
 * The class's pace as a small chart (inline SVG): exercises done, up, over time, across, one step per credit from the
 * first to the last, out of `possible` (students × exercises); a line of text while nothing is done. The page's
 * script holds this same function (its source) to redraw the chart on each update: it uses nothing outside itself,
 * and writes nothing but numbers and clock times into the markup.
 */
export function paceChart(times: string[], possible: number): string {
  const t = times
    .map((at) => Date.parse(at))
    .filter((v) => Number.isFinite(v))
    .sort((a, b) => a - b);
  if (t.length === 0)
    return '<p id="pace-empty">No exercise done yet: the pace of the class shows here from the first one.</p>';
  // The plot starts a few pixels right of the axis, so that a first step at the first credit shows.
  const [width, height, left, right, top, bottom, inset] = [480, 150, 40, 12, 26, 22, 6];
  const first = t[0]!;
  // One credit, or all in the same instant, still spans a minute.
  const span = Math.max(t[t.length - 1]! - first, 60_000);
  const x = (v: number) => (left + inset + ((v - first) / span) * (width - left - right - inset)).toFixed(1);
  const y = (n: number) => (top + (1 - n / t.length) * (height - top - bottom)).toFixed(1);
  const clock = (v: number) => {
    const d = new Date(v);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  };
  const steps = t.flatMap((v, i) => [`${x(v)},${y(i)}`, `${x(v)},${y(i + 1)}`]);
  const end = `${x(first + span)},${y(t.length)}`;
  const points = (steps[steps.length - 1] === end ? steps : [...steps, end]).join(' ');
  const [from, to] = [clock(first), clock(first + span)];
  const text = (at: string, anchor: string, label: string) =>
    `<text ${at} text-anchor="${anchor}" font-size="11" fill="#444">${label}</text>`;
  return [
    `<svg id="pace-svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img"`,
    ` aria-label="${t.length} exercises done of ${possible}, from ${from} to ${to}">`,
    text(`x="${left}" y="14"`, 'start', `${t.length} done of ${possible}`),
    `<path d="M${left} ${top}V${height - bottom}H${width - right}" fill="none" stroke="#999"/>`,
    text(`x="${left - 4}" y="${Number(y(t.length)) + 4}"`, 'end', String(t.length)),
    text(`x="${left - 4}" y="${height - bottom}"`, 'end', '0'),
    text(`x="${left + inset}" y="${height - 6}"`, 'start', from),
    text(`x="${width - right}" y="${height - 6}"`, 'end', to),
    `<polyline id="pace-line" points="${points}" fill="none" stroke="#2da44e" stroke-width="2"/>`,
    '</svg>',
  ].join('');
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
 #pace-figure{margin:1.5rem 0 0} #pace-figure figcaption{font-weight:600;margin-bottom:.3rem} #pace-empty{color:#666}
</style></head><body>
<h1>Class ${escapeHtml(board.class)} · lab ${escapeHtml(board.lab)}</h1>
<p id="session"${board.session ? '' : ' hidden'}>${escapeHtml(board.session ?? '')}</p>
<p id="updated">Live: updates as students work. Green = done; a red row = that student's environment is down; a yellow row = no progress for ${board.stuckAfterMinutes} min or more (stuck); a grey row = stopped (labctl start brings it back).</p>
<table><thead><tr><th>student</th>${head}<th>total</th><th></th></tr></thead>
<tbody id="rows">
${rows(board)}
</tbody><tfoot>${shareRow(board)}</tfoot></table>
<figure id="pace-figure"><figcaption>Pace: exercises done over time, by the whole class</figcaption>
<div id="pace">${paceChart(board.pace, creditsPossible(board))}</div></figure>
<script${nonce ? ` nonce="${escapeHtml(nonce)}"` : ''}>
const exercises = ${JSON.stringify(Object.fromEntries(board.exercises.map((e) => [e.id, e.title]))).replace(/</g, '\\u003c')};
const paceChart = ${paceChart.toString()};
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
  document.getElementById('pace').innerHTML = paceChart(board.pace || [], board.students.length * board.exercises.length);
  document.getElementById('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '. Green = done; a red row = that student\\'s environment is down; a yellow row = stuck; a grey row = stopped.';
};
</script>
</body></html>
`;
}
