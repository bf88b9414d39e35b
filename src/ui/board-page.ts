import { escapeHtml } from './html.js';
import type { Board } from '../core/board-model.js';

function rows(board: Board): string {
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
      const state = s.error ? `<span class="why">${escapeHtml(s.error)}</span>` : '';
      return `<tr id="student-${s.student}" class="${s.error ? 'down' : 'up'}"><th>${s.student}${s.name ? ` <span class="name">${escapeHtml(s.name)}</span>` : ''}</th>${cells}<td class="total">${done}/${s.exercises.length}</td><td class="state">${state}</td></tr>`;
    })
    .join('\n');
}

/** The instructor's board; it redraws itself from the server-sent events at `stream`. */
export function boardPage(board: Board, stream: string): string {
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
 #updated{color:#666;font-size:.85em}
</style></head><body>
<h1>Class ${escapeHtml(board.class)} · lab ${escapeHtml(board.lab)}</h1>
<p id="updated">Live: updates as students work. Green = done; a red row = that student's environment is down.</p>
<table><thead><tr><th>student</th>${head}<th>total</th><th></th></tr></thead>
<tbody id="rows">
${rows(board)}
</tbody></table>
<script>
const source = new EventSource(${JSON.stringify(stream)});
source.onmessage = (message) => {
  const board = JSON.parse(message.data);
  for (const s of board.students) {
    const row = document.getElementById('student-' + s.student);
    if (!row) { location.reload(); return; }
    row.className = s.error ? 'down' : 'up';
    row.querySelector('.state').textContent = s.error || '';
    let done = 0;
    for (const e of s.exercises) {
      const cell = document.getElementById('cell-' + s.student + '-' + e.id);
      if (!cell) continue;
      cell.className = e.done ? 'done' : 'todo';
      cell.textContent = e.done ? '✔' : '';
      if (e.done) done++;
    }
    row.querySelector('.total').textContent = done + '/' + s.exercises.length;
  }
  document.getElementById('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '. Green = done; a red row = that student\\'s environment is down.';
};
</script>
</body></html>
`;
}
