import { escapeHtml } from '../core/html.js';
import { caFileName, shownServices } from '../core/services.js';
import type { SidecarConfig } from './config.js';
import type { Progress } from './sidecar.js';
import { endedText, fallbackEndText, timeLeftText, warningText } from './session-text.js';
import { WARN_BEFORE_END_MS } from './sidecar.js';
import { terminalSection } from './terminal-page.js';

/** The session line as the page first shows it (its script then counts down): time left, a warning, or the end. */
function sessionLine(progress: Progress): { text: string; phase: string } {
  const s = progress.session;
  if (!s || s.end === null) return { text: '', phase: 'none' };
  const endText = s.endText ?? fallbackEndText(s.end);
  const left = Date.parse(s.end) - Date.parse(s.now);
  if (left <= 0) return { text: endedText(endText), phase: 'ended' };
  if (left <= WARN_BEFORE_END_MS) return { text: warningText(endText, left), phase: 'warning' };
  return { text: timeLeftText(endText, left), phase: 'open' };
}

/**
 * The student's page, in French: their connection card and the checklist, updated live (SSE). It holds no key: its
 * requests carry the cookie the server set, and its first script takes the key out of the address bar and the
 * history (a room's PCs are shared). Its inline scripts run under the Content-Security-Policy nonce.
 */
export function renderPage(config: SidecarConfig, progress: Progress, nonce = ''): string {
  const scriptTag = nonce ? `<script nonce="${escapeHtml(nonce)}">` : '<script>';
  const c = config.card;
  const [first, second] = c.pair;
  const session = sessionLine(progress);
  const rows = progress.exercises
    .map(
      (
        e,
      ) => `<li id="ex-${escapeHtml(e.id)}" class="${e.done ? 'done' : 'todo'}"><span class="mark">${e.done ? '✔' : '○'}</span>
        <span class="title">${escapeHtml(e.title)}</span> <code>${escapeHtml(e.id)}</code>
        <div class="evidence">${escapeHtml(evidenceText(e))}</div>
        <div class="hint"${e.hint === undefined ? ' hidden' : ''}>Indice : <span class="text">${escapeHtml(e.hint ?? '')}</span></div></li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Étudiant ${c.student} · ${escapeHtml(progress.title)}</title>
${scriptTag}if (location.search || location.hash) history.replaceState(null, '', location.pathname);</script>
<style>
 body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
 .card{border:1px solid #bbb;border-radius:8px;padding:1rem 1.5rem;background:#fafafa}
 code{background:#eee;padding:0 .3em;border-radius:3px} td{padding:.15rem .8rem .15rem 0}
 ul{list-style:none;padding:0} li{padding:.5rem;border-bottom:1px solid #eee}
 li.done .mark{color:#1a7f37;font-weight:bold} li.todo .mark{color:#999}
 .evidence{font-size:.85em;color:#555;margin-left:1.6rem} #score{font-weight:bold}
 .hint{font-size:.85em;color:#8a4b00;margin-left:1.6rem}
 .pem{font-size:.7em;line-height:1.1}
 .problem{border:1px solid #b42318;color:#b42318;border-radius:6px;padding:.5rem 1rem}
 .session{border:1px solid #bbb;border-radius:6px;padding:.5rem 1rem;font-weight:bold}
 .session.warning{border-color:#b54708;background:#fffaeb;color:#b54708}
 .session.ended{border-color:#b42318;background:#fef3f2;color:#b42318}
</style></head><body>
<h1>Étudiant ${c.student} — ${escapeHtml(progress.title)}</h1>
<p id="session" class="session ${session.phase}" role="status"${session.phase === 'none' ? ' hidden' : ''}>${escapeHtml(session.text)}</p>
<div class="card">
<p>Serveur : <code>${escapeHtml(c.host)}</code> · domaine <code>${escapeHtml(c.domain)}</code></p>
<p>Vos comptes : <code>${escapeHtml(first)}</code> (mot de passe <code>${escapeHtml(c.passwords?.[first] ?? c.password)}</code>)
 et <code>${escapeHtml(second)}</code> (mot de passe <code>${escapeHtml(c.passwords?.[second] ?? c.password)}</code>)
 (les comptes util1 à util${c.accounts} existent tous sur votre serveur)</p>
<table>
${shownServices(c, c.className, c.services)
  .map((x) => `<tr><td>${escapeHtml(x.label)}</td><td><code>${escapeHtml(x.command)}</code></td></tr>`)
  .join('\n')}
</table>
<p>Boîte mbox : <code>/var/spool/mail/${escapeHtml(first)}</code> · journal : <code>/var/log/mail.log</code></p>
${
  c.ca
    ? `<p>Autorité de certification de la classe : <a href="/ca.pem" download="${escapeHtml(caFileName(c.className))}">${escapeHtml(caFileName(c.className))}</a> (<code>-CAfile ${escapeHtml(caFileName(c.className))}</code>)</p>
<pre class="pem">${escapeHtml(c.ca.trimEnd())}</pre>`
    : ''
}
</div>
<p id="problem" class="problem"${progress.problem === undefined ? ' hidden' : ''}>Votre progression n'est pas enregistrée en ce moment : ce qui s'affiche ici serait perdu au redémarrage du suivi. Prévenez l'enseignant.</p>
<h2>Exercices réalisés : <span id="score">${progress.done} / ${progress.total}</span></h2>
<ul id="exercises">
${rows}
</ul>
${terminalSection(config, scriptTag)}
${scriptTag}
// The session's end, by the sidecar's clock (not this PC's): the offset between the two is taken at each message.
let session = ${JSON.stringify(progress.session ?? null).replace(/</g, '\\u003c')};
let offset = session ? Date.parse(session.now) - Date.now() : 0;
const WARN_MS = ${WARN_BEFORE_END_MS};
function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + ' s';
  if (s < 600) return Math.floor(s / 60) + ' min ' + String(s % 60).padStart(2, '0') + ' s';
  const m = Math.round(s / 60);
  return m < 60 ? m + ' min' : Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
}
function showSession() {
  const box = document.getElementById('session');
  if (!session || !session.end) { box.hidden = true; return; }
  const end = session.endText || new Date(session.end).toISOString().slice(11, 16);
  const left = Date.parse(session.end) - (Date.now() + offset);
  box.hidden = false;
  box.className = 'session ' + (left <= 0 ? 'ended' : left <= WARN_MS ? 'warning' : 'open');
  box.textContent = left <= 0
    ? ${JSON.stringify(endedText('@END@'))}.replace('@END@', end)
    : left <= WARN_MS
      ? ${JSON.stringify(warningText('@END@', 0))}.replace('@END@', end).replace('0 s', duration(left))
      : ${JSON.stringify(timeLeftText('@END@', 0))}.replace('@END@', end).replace('0 s', duration(left));
}
setInterval(showSession, 1000);
const source = new EventSource('/api/stream');
source.onmessage = (message) => {
  const progress = JSON.parse(message.data);
  session = progress.session || null;
  if (session) offset = Date.parse(session.now) - Date.now();
  showSession();
  document.getElementById('score').textContent = progress.done + ' / ' + progress.total;
  document.getElementById('problem').hidden = !progress.problem;
  for (const e of progress.exercises) {
    const li = document.getElementById('ex-' + e.id);
    if (!li) continue;
    li.className = e.done ? 'done' : 'todo';
    li.querySelector('.mark').textContent = e.done ? '✔' : '○';
    li.querySelector('.evidence').textContent = e.done ? (e.evidence || '') : e.afterEnd ? 'Après la fin de la séance, ne compte pas : ' + (e.evidence || '') : '';
    const hint = li.querySelector('.hint');
    hint.querySelector('.text').textContent = e.hint || '';
    hint.hidden = !e.hint;
  }
};
</script>
</body></html>
`;
}

/** What the page says under an exercise: its evidence, or why a proof that came after the end does not count. */
function evidenceText(e: Progress['exercises'][number]): string {
  if (e.done) return e.evidence ?? '';
  return e.afterEnd ? `Après la fin de la séance, ne compte pas : ${e.evidence ?? ''}` : '';
}
