import { escapeHtml } from '../core/html.js';
import type { ClassInfo, StudentInfo } from '../core/class-model.js';
import { caFileName, shownServices, type ShownService } from '../core/services.js';

/** The page-break marker between Markdown cards: survives Markdown → HTML → print. */
export const MD_PAGE_BREAK = '<div style="page-break-after: always"></div>';

/** Everything a card shows, with this student's values filled in (raw, unescaped); the handout reuses it. */
export interface CardModel {
  title: string;
  host: string;
  domain: string;
  /** Each service and its port, in the lab's order. */
  ports: { label: string; value: string }[];
  accounts: { user: string; password: string; address: string }[];
  commands: { label: string; command: string }[];
  /** The TD's SMTP and IMAP dialogues, where the lab has plain SMTP and IMAP. */
  smtp?: string[];
  imap?: string[];
  client: { label: string; value: string }[];
  page: string | null;
  /** The class's CA (PEM) and the file name the commands give it. */
  ca?: { file: string; pem: string };
}

/** The student's two accounts as a table (the card's and the handout's). */
export function accountsTable(accounts: CardModel['accounts']): string {
  const e = escapeHtml;
  const row = (a: CardModel['accounts'][number]) =>
    `<tr><td class="mono">${e(a.user)}</td><td class="mono">${e(a.password)}</td><td class="mono">${e(a.address)}</td></tr>`;
  return `<table class="accounts">
<thead><tr><th>Compte</th><th>Mot de passe</th><th>Adresse</th></tr></thead>
<tbody>
${accounts.map(row).join('\n')}
</tbody>
</table>`;
}

/** Label/value rows of a table; `mono` sets every value in the fixed-width font. */
export function rowsHtml(items: { label: string; value: string }[], mono = false): string {
  const e = escapeHtml;
  return items
    .map((r) => `<tr><th scope="row">${e(r.label)}</th><td${mono ? ' class="mono"' : ''}>${e(r.value)}</td></tr>`)
    .join('\n');
}

/** The ports a student types, as the card and the handout show them. */
export function portsTable(ports: CardModel['ports']): string {
  return `<table class="ports">\n${rowsHtml(ports, true)}\n</table>`;
}

/** The class's CA as the card and the handout show it: the file to save, and its PEM. */
export function caHtml(ca: CardModel['ca']): string {
  if (!ca) return '';
  const e = escapeHtml;
  return `<div class="ca"><p><strong>Autorité de certification de la classe</strong> : enregistrez ce texte dans <span class="mono">${e(ca.file)}</span> (<code>-CAfile ${e(ca.file)}</code> vérifie alors le certificat du serveur).</p>
<pre class="pem">${e(ca.pem.trimEnd())}</pre></div>`;
}

/** The student's progress page: a link when it is a web address, else text; `after` is HTML added to the line. */
export function pageHtml(page: string | null, after = ''): string {
  if (page === null) return '';
  const e = escapeHtml;
  const where = isWebUrl(page)
    ? `<a class="mono" href="${e(page)}">${e(page)}</a>`
    : `<span class="mono">${e(page)}</span>`;
  return `<p class="page"><strong>Votre page de progression :</strong> ${where}${after}</p>`;
}

export function cardModel(info: ClassInfo, s: StudentInfo): CardModel {
  const [first, second] = s.pair;
  const passwordOf = (user: string) => s.accounts.find((a) => a.user === user)?.password ?? '';
  const services = shownServices(s, info.class, info.services);
  const accounts = [first, second].map((user) => ({
    user,
    password: passwordOf(user),
    address: `${user}@${s.domain}`,
  }));
  const firstPassword = accounts[0]?.password ?? '';
  const secondPassword = accounts[1]?.password ?? '';
  const port = (x: ShownService | undefined) => (x?.port === undefined ? '?' : String(x.port));
  const plain = (protocol: string) => services.find((x) => x.protocol === protocol && x.tls === 'none');
  const smtp = plain('smtp');
  const imap = plain('imap');
  // A mail client reads with TLS where the lab has it, and sends through the port that wants a login.
  const incoming = (protocol: string) =>
    services.find((x) => x.protocol === protocol && x.tls !== 'none') ?? plain(protocol);
  const outgoing = services.find((x) => x.protocol === 'smtp' && x.tls === 'starttls') ?? smtp;
  const [pop3In, imapIn] = [incoming('pop3'), incoming('imap')];
  const tls = [pop3In, imapIn, outgoing].some((x) => x && x.tls !== 'none');
  return {
    title: `Étudiant ${s.student}${s.name ? ` · ${s.name}` : ''} · classe ${info.class}`,
    host: s.host,
    domain: s.domain,
    ports: services.map((x) => ({ label: x.label, value: port(x) })),
    accounts,
    commands: services.map((x) => ({ label: x.label, command: x.command })),
    ...(smtp && {
      smtp: [
        `telnet ${s.host} ${port(smtp)}`,
        `HELO poste${s.student}`,
        `MAIL FROM: <${first}@${s.domain}>`,
        `RCPT TO: <${second}@${s.domain}>`,
        'DATA',
        'Subject: Bonjour',
        '',
        'Mon premier message.',
        '.',
        'QUIT',
      ],
    }),
    ...(imap && {
      imap: [
        `telnet ${s.host} ${port(imap)}`,
        `a LOGIN ${first} ${firstPassword}`,
        'a SELECT INBOX',
        'a FETCH 1 BODY[TEXT]',
        'a LOGOUT',
      ],
    }),
    client: [
      ...(pop3In ? [{ label: `Serveur entrant ${pop3In.label}`, value: `${s.host}, port ${port(pop3In)}` }] : []),
      ...(imapIn ? [{ label: `ou serveur entrant ${imapIn.label}`, value: `${s.host}, port ${port(imapIn)}` }] : []),
      ...(outgoing ? [{ label: `Serveur sortant ${outgoing.label}`, value: `${s.host}, port ${port(outgoing)}` }] : []),
      { label: 'Identifiant', value: `${first} (ou ${second})` },
      {
        label: 'Mot de passe',
        value:
          firstPassword === secondPassword ? firstPassword : `${firstPassword} (pour ${second} : ${secondPassword})`,
      },
      {
        label: 'Sécurité',
        value: tls
          ? `SSL/TLS en réception, STARTTLS en envoi, mot de passe normal ; le certificat est signé par l’autorité de la classe (${caFileName(info.class)}, à importer dans le client)`
          : 'aucune : pas de chiffrement (ni SSL/TLS ni STARTTLS), mot de passe normal',
      },
    ],
    page: s.page,
    ...(info.ca && { ca: { file: caFileName(info.class), pem: info.ca } }),
  };
}

/** Only web addresses become links; anything else is shown as text. */
export function isWebUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

// ---------------------------------------------------------------- HTML

export { escapeHtml };

const CSS = `
@page { size: A4; margin: 12mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #e8e8e8; color: #111; font: 10.5pt/1.35 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
.card { width: 186mm; margin: 8mm auto; padding: 7mm 8mm; background: #fff; border: 0.4mm solid #444;
  border-radius: 2mm; break-after: page; page-break-after: always; break-inside: avoid; }
.card header { display: flex; justify-content: space-between; align-items: baseline; gap: 4mm;
  border-bottom: 0.6mm solid #222; padding-bottom: 2mm; margin-bottom: 3mm; }
.card h1 { font-size: 17pt; margin: 0; }
.card header .lab { color: #444; font-size: 10pt; text-align: right; }
.card h2 { font-size: 11.5pt; margin: 4mm 0 1.5mm; padding-bottom: 0.5mm; border-bottom: 0.2mm solid #999; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 6mm; }
.grid.top { grid-template-columns: 42mm 1fr; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.8mm 2mm; border: 0.2mm solid #bbb; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; white-space: nowrap; }
code, pre, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", Consolas, monospace; font-size: 9.5pt; }
pre { margin: 0; padding: 1.5mm 2.5mm; background: #f6f6f6; border: 0.2mm solid #ccc; border-radius: 1mm;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.server { font-size: 12pt; }
.server .mono { font-size: 12pt; font-weight: 700; }
.commands td:first-child { width: 14mm; font-weight: 600; }
.client th { width: 52mm; }
.note { color: #444; font-size: 9pt; margin: 1mm 0 0; }
.pem { font-size: 7pt; line-height: 1.15; }
.page { margin-top: 4mm; padding: 2mm 3mm; border: 0.3mm dashed #666; overflow-wrap: anywhere; }
@media print {
  body { background: #fff; }
  .card { width: auto; margin: 0; border: none; border-radius: 0; padding: 0; }
}
`;

/** The TD's two example dialogues, side by side, where the lab has them. */
function dialoguesHtml(m: CardModel): string {
  const e = escapeHtml;
  const boxes = [
    m.smtp &&
      `<div>
<h2>Exemple : envoyer un message (SMTP)</h2>
<pre class="smtp">${e(m.smtp.join('\n'))}</pre>
<p class="note">Une ligne avec un seul point termine le message.</p>
</div>`,
    m.imap &&
      `<div>
<h2>Exemple : lire en IMAP</h2>
<pre class="imap">${e(m.imap.join('\n'))}</pre>
<p class="note">« a » est l’identifiant de commande, à répéter devant chaque commande.</p>
</div>`,
  ].filter(Boolean);
  return boxes.length === 0 ? '' : `<div class="grid">\n${boxes.join('\n')}\n</div>`;
}

function htmlCard(info: ClassInfo, s: StudentInfo): string {
  const m = cardModel(info, s);
  const e = escapeHtml;
  return `<section class="card" data-student="${e(String(s.student))}">
<header><h1>${e(m.title)}</h1><div class="lab">${e(info.title)}</div></header>
<p class="server">Serveur : <span class="mono">${e(m.host)}</span> &nbsp;·&nbsp; domaine de messagerie : <span class="mono">${e(m.domain)}</span></p>
<div class="grid top">
<div>
<h2>Ports</h2>
${portsTable(m.ports)}
</div>
<div>
<h2>Vos deux comptes</h2>
${accountsTable(m.accounts)}
</div>
</div>
<h2>Se connecter</h2>
<table class="commands">
${m.commands.map((c) => `<tr><td>${e(c.label)}</td><td><code>${e(c.command)}</code></td></tr>`).join('\n')}
</table>
${[dialoguesHtml(m), caHtml(m.ca)].filter(Boolean).join('\n')}
<h2>Client de messagerie graphique</h2>
<table class="client">
${rowsHtml(m.client)}
</table>
${pageHtml(m.page)}
</section>`;
}

/** A printable HTML page: one French card per student, one card per printed A4 page. */
export function cardsHtml(info: ClassInfo): string {
  return `<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`Fiches étudiants · classe ${info.class} · ${info.title}`)}</title>
<style>${CSS}</style>
</head>
<body>
${info.students.map((s) => htmlCard(info, s)).join('\n')}
</body>
</html>
`;
}

// ------------------------------------------------------------ Markdown

/** Escapes text so Markdown (and the HTML it may contain) shows it literally, on the line it was put on. */
export function escapeMarkdown(value: string): string {
  return value
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .replace(/[\\`*_[\]#!|~>]/g, '\\$&')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;');
}

/** An inline code span that holds any text, backticks included. */
function mdCode(value: string): string {
  const runs = value.match(/`+/g) ?? [];
  const fence = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  const pad = value.startsWith('`') || value.endsWith('`') || value === '' ? ' ' : '';
  return `${fence}${pad}${value.replace(/\r?\n/g, ' ')}${pad}${fence}`;
}

/** A fenced code block that no line of its content can close. */
function mdBlock(lines: string[]): string {
  const runs = lines.join('\n').match(/`{3,}/g) ?? [];
  const fence = '`'.repeat(Math.max(3, ...runs.map((r) => r.length + 1)));
  return [`${fence}text`, ...lines, fence].join('\n');
}

/** A table cell: code spans may not hold a bare pipe. */
function mdCell(value: string): string {
  return mdCode(value).replace(/\|/g, '\\|');
}

function mdCard(info: ClassInfo, s: StudentInfo): string {
  const m = cardModel(info, s);
  const t = escapeMarkdown;
  const lines = [
    `# ${t(m.title)}`,
    '',
    `*${t(info.title)}*`,
    '',
    `**Serveur :** ${mdCode(m.host)} · **domaine de messagerie :** ${mdCode(m.domain)}`,
    '',
    '## Ports',
    '',
    '| Service | Port |',
    '| --- | --- |',
    ...m.ports.map((p) => `| ${t(p.label)} | ${mdCell(p.value)} |`),
    '',
    '## Vos deux comptes',
    '',
    '| Compte | Mot de passe | Adresse |',
    '| --- | --- | --- |',
    ...m.accounts.map((a) => `| ${mdCell(a.user)} | ${mdCell(a.password)} | ${mdCell(a.address)} |`),
    '',
    '## Se connecter',
    '',
    ...m.commands.map((c) => `- **${t(c.label)}** : ${mdCode(c.command)}`),
    '',
    ...(m.smtp
      ? [
          '## Exemple : envoyer un message (SMTP)',
          '',
          mdBlock(m.smtp),
          '',
          'Une ligne avec un seul point termine le message.',
          '',
        ]
      : []),
    ...(m.imap
      ? [
          '## Exemple : lire en IMAP',
          '',
          mdBlock(m.imap),
          '',
          '« a » est l’identifiant de commande, à répéter devant chaque commande.',
          '',
        ]
      : []),
    ...(m.ca
      ? [
          '## Autorité de certification de la classe',
          '',
          `Enregistrez ce texte dans ${mdCode(m.ca.file)} :`,
          '',
          mdBlock(m.ca.pem.trimEnd().split('\n')),
          '',
        ]
      : []),
    '## Client de messagerie graphique',
    '',
    ...m.client.map((c) => `- **${t(c.label)}** : ${t(c.value)}`),
  ];
  if (m.page !== null) {
    const link = isWebUrl(m.page) && !/[\s<>]/.test(m.page) ? `<${m.page}>` : mdCode(m.page);
    lines.push('', `**Votre page de progression :** ${link}`);
  }
  return lines.join('\n');
}

/** The same cards in Markdown, separated by a page-break marker so they print one per page. */
export function cardsMarkdown(info: ClassInfo): string {
  return info.students.map((s) => mdCard(info, s)).join(`\n\n${MD_PAGE_BREAK}\n\n`) + '\n';
}
