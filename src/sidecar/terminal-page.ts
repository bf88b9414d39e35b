import { escapeHtml } from '../core/html.js';
import type { SidecarConfig } from './config.js';

/**
 * The terminal block of the student's page (src/sidecar/page.ts includes it): a button opens xterm.js, connected
 * through this sidecar's WebSocket (src/sidecar/terminal.ts) to an ssh session on the student's own server.
 * Empty when the sidecar has no terminal. `scriptTag` opens its inline script (with the page's CSP nonce).
 */
export function terminalSection(config: SidecarConfig, scriptTag = '<script>'): string {
  const t = config.terminal;
  if (!t) return '';
  const user = escapeHtml(t.user);
  return `<section id="terminal-section">
<style>
 #terminal-section .bar{display:flex;gap:1rem;align-items:center;margin:.5rem 0}
 #terminal{height:26em;background:#000;padding:4px;border-radius:6px;display:none}
 #terminal.open{display:block} #terminal-status{color:#555;font-size:.9em}
</style>
<h2>Terminal</h2>
<p>Un terminal sur votre serveur, ouvert sous le compte <code>${user}</code> (comme <code>ssh</code>), pour
taper le TD sans client <code>telnet</code> ni <code>ssh</code> sur ce poste : <code>telnet localhost 25</code>,
<code>mail</code>, <code>cat /var/spool/mail/${user}</code>… Fermer l’onglet ferme la session ;
${t.maxSessions} terminaux au plus à la fois.</p>
<div class="bar"><button id="terminal-button" type="button">Ouvrir un terminal</button>
<span id="terminal-status" role="status"></span></div>
<div id="terminal"></div>
${scriptTag}
(() => {
  // The key travels in the page's cookie.
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/terminal';
  const button = document.getElementById('terminal-button');
  const box = document.getElementById('terminal');
  const status = document.getElementById('terminal-status');
  const encoder = new TextEncoder();
  let term, fit, ws;
  const load = (tag, props) => new Promise((resolve, reject) => {
    const el = Object.assign(document.createElement(tag), props);
    el.onload = resolve;
    el.onerror = () => reject(new Error(props.src || props.href));
    document.head.append(el);
  });
  async function setUp() {
    await Promise.all([load('link', { rel: 'stylesheet', href: '/terminal/xterm.css' }), load('script', { src: '/terminal/xterm.js' })]);
    await load('script', { src: '/terminal/addon-fit.js' });
    term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
    fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    box.classList.add('open');
    term.open(box);
    // A paste (a base64 attachment, say) goes in pieces: the sidecar takes frames of up to 64 KiB.
    term.onData((data) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      const bytes = encoder.encode(data);
      for (let i = 0; i < bytes.length; i += 16384) ws.send(bytes.subarray(i, i + 16384));
    });
    term.onResize(({ cols, rows }) => ws && ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ resize: [cols, rows] })));
    addEventListener('resize', () => fit.fit());
  }
  function connect() {
    status.textContent = 'Connexion à votre serveur…';
    button.disabled = true;
    ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    let opened = false;
    ws.onopen = () => {
      opened = true;
      ws.send(JSON.stringify({ resize: [term.cols, term.rows] }));
      status.textContent = 'Connecté à votre serveur (compte ${user}).';
      button.textContent = 'Fermer le terminal';
      button.disabled = false;
      term.focus();
    };
    ws.onmessage = (event) => term.write(new Uint8Array(event.data));
    ws.onclose = (event) => {
      const why = event.reason || (opened ? 'Connexion fermée.' : 'Connexion refusée : rechargez la page depuis l’adresse de votre fiche.');
      status.textContent = why;
      term.write('\\r\\n\\x1b[33m[' + why + ']\\x1b[0m\\r\\n');
      button.textContent = 'Ouvrir un terminal';
      button.disabled = false;
      ws = undefined;
    };
  }
  button.addEventListener('click', async () => {
    if (ws) return ws.close(1000);
    try {
      if (!term) await setUp();
      fit.fit();
      connect();
    } catch (error) {
      status.textContent = 'Le terminal n’a pas pu se charger (' + error.message + ').';
    }
  });
  addEventListener('pagehide', () => ws && ws.close(1000));
})();
</script>
</section>`;
}
