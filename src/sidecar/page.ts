import { escapeHtml } from '../core/html.js';
import { caFileName, shownServices } from '../core/services.js';
import type { SidecarConfig } from './config.js';
import type { Progress } from './sidecar.js';
import { terminalSection } from './terminal-page.js';

/**
 * The student's page, in French: their connection card and the checklist, updated live (SSE). It holds no key: its
 * requests carry the cookie the server set, and its first script takes the key out of the address bar and the
 * history (a room's PCs are shared). Its inline scripts run under the Content-Security-Policy nonce.
 */
export function renderPage(config: SidecarConfig, progress: Progress, nonce = ''): string {
  const scriptTag = nonce ? `<script nonce="${escapeHtml(nonce)}">` : '<script>';
  const c = config.card;
  const [first, second] = c.pair;
  const rows = progress.exercises
    .map(
      (
        e,
      ) => `<li id="ex-${escapeHtml(e.id)}" class="${e.done ? 'done' : 'todo'}"><span class="mark">${e.done ? '✔' : '○'}</span>
        <span class="title">${escapeHtml(e.title)}</span> <code>${escapeHtml(e.id)}</code>
        <div class="evidence">${e.done ? escapeHtml(e.evidence ?? '') : ''}</div>
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
</style></head><body>
<h1>Étudiant ${c.student} — ${escapeHtml(progress.title)}</h1>
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
const source = new EventSource('/api/stream');
source.onmessage = (message) => {
  const progress = JSON.parse(message.data);
  document.getElementById('score').textContent = progress.done + ' / ' + progress.total;
  document.getElementById('problem').hidden = !progress.problem;
  for (const e of progress.exercises) {
    const li = document.getElementById('ex-' + e.id);
    if (!li) continue;
    li.className = e.done ? 'done' : 'todo';
    li.querySelector('.mark').textContent = e.done ? '✔' : '○';
    li.querySelector('.evidence').textContent = e.done ? (e.evidence || '') : '';
    const hint = li.querySelector('.hint');
    hint.querySelector('.text').textContent = e.hint || '';
    hint.hidden = !e.hint;
  }
};
</script>
</body></html>
`;
}
