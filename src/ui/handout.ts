import type { ClassInfo, StudentInfo } from '../core/class-model.js';
import { escapeHtml } from '../core/html.js';
import { accountsTable, cardModel, pageHtml, portsTable, rowsHtml, type CardModel } from './print-cards.js';

/** What the student types: a terminal command, or the lines of a telnet dialogue with one of the servers. */
export type Dialogue = 'shell' | 'smtp' | 'pop3' | 'imap';

/** One step of an exercise: what to do, then (maybe) the lines to type. */
export interface Step {
  text: string;
  kind?: Dialogue;
  lines?: string[];
  /** A short remark under the lines. */
  note?: string;
}

export interface HandoutExercise {
  id: string;
  /** The title from the lab file. */
  title: string;
  goal: string;
  steps: Step[];
  question?: string;
}

/** One student's handout, with their values filled in (raw, unescaped). */
export interface StudentHandout {
  student: number;
  heading: string;
  card: CardModel;
  /** How to look at what the server did: ssh, the spool file, `mail`, the mail log. */
  tools: Step[];
  exercises: HandoutExercise[];
}

/** This student's values, as the exercises use them. */
interface Values {
  n: number;
  host: string;
  domain: string;
  smtp: string;
  pop3: string;
  imap: string;
  ssh: string;
  /** The sender's account and the reader's account (the student's pair). */
  first: string;
  second: string;
  secondPassword: string;
}

/** A boundary of our own for the multipart exercises. */
const BOUNDARY = 'FRONTIERE-TD';

/** An outside sender for the spoofing exercise: a real-looking domain, nowhere near the lab's. */
const OUTSIDE_SENDER = 'doyen@universite-exemple.fr';

const smtpOpen = (v: Values, from: string, rcpts: string[]): string[] => [
  `telnet ${v.host} ${v.smtp}`,
  `HELO poste${v.n}`,
  `MAIL FROM: ${from}`,
  ...rcpts.map((r) => `RCPT TO: ${r}`),
  'DATA',
];

const smtpClose = ['.', 'QUIT'];

const popLogin = (v: Values): string[] => [
  `telnet ${v.host} ${v.pop3}`,
  `USER ${v.second}`,
  `PASS ${v.secondPassword}`,
];

type ExerciseText = Omit<HandoutExercise, 'id' | 'title'>;

/** The TD's exercises, in our own words, keyed by the lab's exercise ids. */
const EXERCISES: Record<string, (v: Values) => ExerciseText> = {
  'smtp-simple': (v) => ({
    goal: `Ouvrez une session SMTP sur votre serveur et envoyez un message de ${v.first} à ${v.second} : une enveloppe (expéditeur, destinataire) et quelques mots, sans aucun en-tête.`,
    steps: [
      {
        text: 'Tapez ces lignes une à une, en attendant la réponse du serveur après chacune :',
        kind: 'smtp',
        lines: [
          ...smtpOpen(v, `${v.first}@${v.domain}`, [`${v.second}@${v.domain}`]),
          'Bonjour, ceci est mon premier message.',
          ...smtpClose,
        ],
        note: 'Après DATA, le serveur attend le contenu ; une ligne réduite à un point le termine. La réponse « 250 … queued as » donne l’identifiant du message : notez-le.',
      },
      {
        text: `Vérifiez que le message est rangé dans la boîte de ${v.second} :`,
        kind: 'shell',
        lines: [`ssh -p ${v.ssh} ${v.second}@${v.host}`, `cat /var/spool/mail/${v.second}`],
      },
    ],
    question:
      'Quelles commandes ont construit l’enveloppe, laquelle a ouvert le contenu ? Quels en-têtes le serveur a-t-il écrits de lui-même ?',
  }),

  'smtp-subject': (v) => ({
    goal: 'Envoyez un nouveau message, cette fois avec un sujet. Les en-têtes se tapent juste après DATA ; une ligne vide les sépare du corps du message.',
    steps: [
      {
        text: 'Dans une première fenêtre, suivez le journal du serveur pendant l’envoi :',
        kind: 'shell',
        lines: [`ssh -p ${v.ssh} ${v.first}@${v.host}`, 'tail -f /var/log/mail.log'],
        note: 'Ctrl+C arrête le suivi.',
      },
      {
        text: 'Dans une seconde fenêtre, envoyez le message :',
        kind: 'smtp',
        lines: [
          ...smtpOpen(v, `${v.first}@${v.domain}`, [`${v.second}@${v.domain}`]),
          'Subject: Compte rendu du TD',
          '',
          'Le sujet est dans les en-têtes, ce texte est le corps.',
          ...smtpClose,
        ],
      },
      {
        text: 'Retrouvez ensuite toutes les lignes du journal qui concernent ce message (remplacez IDENTIFIANT par celui que le serveur vous a donné) :',
        kind: 'shell',
        lines: ['grep IDENTIFIANT /var/log/mail.log'],
      },
    ],
    question:
      'Quels programmes de Postfix (smtpd, cleanup, qmgr, local) apparaissent dans le journal, et dans quel ordre ?',
  }),

  'smtp-two-recipients': (v) => ({
    goal: 'Envoyez un seul message à vos deux comptes : une seule commande MAIL FROM, mais deux RCPT TO dans la même session.',
    steps: [
      {
        text: 'Le message :',
        kind: 'smtp',
        lines: [
          ...smtpOpen(v, `${v.first}@${v.domain}`, [`${v.first}@${v.domain}`, `${v.second}@${v.domain}`]),
          'Subject: Pour mes deux comptes',
          `To: ${v.first}@${v.domain}`,
          '',
          'Un seul envoi, deux destinataires.',
          ...smtpClose,
        ],
      },
      {
        text: 'Vérifiez chacune des deux boîtes, en vous connectant avec chaque compte :',
        kind: 'shell',
        lines: [
          `ssh -p ${v.ssh} ${v.first}@${v.host}`,
          `cat /var/spool/mail/${v.first}`,
          `ssh -p ${v.ssh} ${v.second}@${v.host}`,
          `cat /var/spool/mail/${v.second}`,
        ],
      },
    ],
    question: `L’en-tête To: ne nomme que ${v.first} : qui a reçu le message ? Recommencez avec un en-tête « Cc: » qui nomme un troisième compte, sans RCPT TO pour lui. Que faut-il en conclure sur le rôle de l’enveloppe et sur celui des en-têtes ?`,
  }),

  'smtp-attachment': (v) => ({
    goal: `Envoyez un message en deux parties : un petit texte, puis un fichier texte joint. L’en-tête Content-Type: multipart/mixed annonce une frontière ; chaque partie commence par deux tirets suivis de la frontière, et la toute dernière frontière se termine par deux tirets de plus.`,
    steps: [
      {
        text: 'Le message, ligne à ligne (les lignes vides comptent) :',
        kind: 'smtp',
        lines: [
          ...smtpOpen(v, `${v.first}@${v.domain}`, [`${v.second}@${v.domain}`]),
          'Subject: Un fichier joint',
          'MIME-Version: 1.0',
          `Content-Type: multipart/mixed; boundary="${BOUNDARY}"`,
          '',
          `--${BOUNDARY}`,
          'Content-Type: text/plain; charset=UTF-8',
          '',
          'Bonjour, le fichier est en pièce jointe.',
          '',
          `--${BOUNDARY}`,
          'Content-Type: text/plain; charset=UTF-8; name="notes.txt"',
          'Content-Disposition: attachment; filename="notes.txt"',
          '',
          'Première ligne du fichier notes.txt',
          'Deuxième ligne',
          `--${BOUNDARY}--`,
          ...smtpClose,
        ],
      },
      {
        text: `Regardez le message tel qu’il est rangé chez ${v.second} :`,
        kind: 'shell',
        lines: [`ssh -p ${v.ssh} ${v.second}@${v.host}`, `cat /var/spool/mail/${v.second}`],
      },
    ],
    question:
      'Où se trouvent les frontières dans le fichier ? Comparez avec la source d’un message à pièce jointe affichée par votre client de messagerie graphique.',
  }),

  'smtp-attachment-base64': (v) => ({
    goal: 'Même exercice avec une image. SMTP ne transporte que des lignes de texte : un fichier binaire doit d’abord être encodé en base64.',
    steps: [
      {
        text: 'Encodez une petite image (quelques kilo-octets), sur votre poste ou sur le serveur :',
        kind: 'shell',
        lines: ['base64 photo.jpg > photo.b64', 'cat photo.b64'],
      },
      {
        text: 'Envoyez-la en pièce jointe : à la place de la ligne entre parenthèses, collez les lignes de photo.b64.',
        kind: 'smtp',
        lines: [
          ...smtpOpen(v, `${v.first}@${v.domain}`, [`${v.second}@${v.domain}`]),
          'Subject: Une image jointe',
          'MIME-Version: 1.0',
          `Content-Type: multipart/mixed; boundary="${BOUNDARY}"`,
          '',
          `--${BOUNDARY}`,
          'Content-Type: text/plain; charset=UTF-8',
          '',
          'L’image est jointe.',
          '',
          `--${BOUNDARY}`,
          'Content-Type: image/jpeg; name="photo.jpg"',
          'Content-Transfer-Encoding: base64',
          'Content-Disposition: attachment; filename="photo.jpg"',
          '',
          '(collez ici le contenu de photo.b64)',
          `--${BOUNDARY}--`,
          ...smtpClose,
        ],
      },
    ],
    question:
      'Ouvrez le message dans un client graphique : l’image s’affiche-t-elle ? Combien de caractères base64 faut-il pour coder 3 octets ?',
  }),

  'smtp-headers-from-to': (v) => ({
    goal: 'Les en-têtes From: et To: font partie du contenu : c’est vous qui les écrivez, et rien ne les oblige à reprendre l’enveloppe.',
    steps: [
      {
        text: 'Le message, avec des en-têtes qui ne ressemblent pas à l’enveloppe :',
        kind: 'smtp',
        lines: [
          ...smtpOpen(v, `${v.first}@${v.domain}`, [`${v.second}@${v.domain}`]),
          `From: Secretariat du TD <secretariat@${v.domain}>`,
          `To: Toute la promotion <promotion@${v.domain}>`,
          'Subject: En-tetes ecrits a la main',
          '',
          'Qui semble m’avoir envoyé, et à qui ?',
          ...smtpClose,
        ],
      },
      {
        text: `Affichez le message reçu par ${v.second} et comparez Return-Path: (l’enveloppe) avec From: (l’en-tête) :`,
        kind: 'shell',
        lines: [`ssh -p ${v.ssh} ${v.second}@${v.host}`, `cat /var/spool/mail/${v.second}`],
      },
    ],
    question:
      'Quel expéditeur et quel destinataire votre client graphique affiche-t-il ? Affichez-y la source du message pour le vérifier.',
  }),

  'smtp-spoofed-sender': (v) => ({
    goal: 'Le serveur croit l’adresse que vous annoncez dans MAIL FROM. Envoyez un message au nom d’une adresse extérieure au lab.',
    steps: [
      {
        text: 'Le message :',
        kind: 'smtp',
        lines: [
          ...smtpOpen(v, OUTSIDE_SENDER, [`${v.second}@${v.domain}`]),
          `From: Le doyen <${OUTSIDE_SENDER}>`,
          'Subject: Convocation',
          '',
          'Personne n’a vérifié qui je suis.',
          ...smtpClose,
        ],
      },
      {
        text: 'Retrouvez l’expéditeur annoncé dans le journal :',
        kind: 'shell',
        lines: [`ssh -p ${v.ssh} ${v.first}@${v.host}`, `grep ${OUTSIDE_SENDER} /var/log/mail.log`],
      },
    ],
    question: 'Qu’est-ce qui permettrait à un vrai serveur de refuser ce message (authentification SMTP, SPF, DKIM) ?',
  }),

  'smtp-external': (v) => ({
    goal: 'Essayez d’envoyer un message à votre adresse réelle, hors du lab. Votre serveur est isolé : il refuse ce destinataire, et le journal en garde la trace.',
    steps: [
      {
        text: 'Remplacez l’adresse après RCPT TO par la vôtre (universitaire ou personnelle) :',
        kind: 'smtp',
        lines: [
          `telnet ${v.host} ${v.smtp}`,
          `HELO poste${v.n}`,
          `MAIL FROM: ${v.first}@${v.domain}`,
          'RCPT TO: prenom.nom@votre-fournisseur.fr',
          'QUIT',
        ],
      },
      {
        text: 'Cherchez le refus dans le journal :',
        kind: 'shell',
        lines: [`ssh -p ${v.ssh} ${v.first}@${v.host}`, 'grep "reject: RCPT" /var/log/mail.log'],
      },
    ],
    question:
      'Quel code le serveur a-t-il répondu à RCPT TO ? Pourquoi la ligne du journal commence-t-elle par NOQUEUE, sans identifiant de message ?',
  }),

  'pop-login': (v) => ({
    goal: `Connectez-vous au serveur POP3 avec le compte ${v.second}, celui qui a reçu vos messages.`,
    steps: [
      {
        text: 'La session :',
        kind: 'pop3',
        lines: [...popLogin(v), 'STAT', 'LIST', 'QUIT'],
        note: 'Chaque réponse commence par +OK (accepté) ou -ERR (refusé). STAT donne le nombre de messages et leur taille totale.',
      },
    ],
  }),

  'pop-retr': (v) => ({
    goal: 'Lisez un message par POP3. Si la boîte est vide, envoyez-vous d’abord un message par SMTP.',
    steps: [
      {
        text: 'La session :',
        kind: 'pop3',
        lines: [...popLogin(v), 'LIST', 'RETR 1', 'QUIT'],
        note: 'Le message s’affiche en entier, en-têtes compris, et se termine par une ligne réduite à un point.',
      },
    ],
    question: 'Le message est-il toujours sur le serveur après RETR ? Quelle commande POP3 l’effacerait ?',
  }),

  'imap-login': (v) => ({
    goal: 'Connectez-vous au serveur IMAP. Chaque commande commence par une étiquette de votre choix (a1, a2…) que le serveur reprend dans sa réponse finale.',
    steps: [
      {
        text: 'La session :',
        kind: 'imap',
        lines: [
          `telnet ${v.host} ${v.imap}`,
          `a1 LOGIN ${v.second} ${v.secondPassword}`,
          'a2 LIST "" "*"',
          'a3 LOGOUT',
        ],
      },
    ],
    question: 'Quels dossiers la commande LIST montre-t-elle ?',
  }),

  'imap-fetch': (v) => ({
    goal: 'Ouvrez la boîte de réception et lisez un message : d’abord ses en-têtes, puis son corps.',
    steps: [
      {
        text: 'La session :',
        kind: 'imap',
        lines: [
          `telnet ${v.host} ${v.imap}`,
          `a1 LOGIN ${v.second} ${v.secondPassword}`,
          'a2 SELECT INBOX',
          'a3 FETCH 1 BODY[HEADER]',
          'a4 FETCH 1 BODY[TEXT]',
          'a5 LOGOUT',
        ],
      },
    ],
    question:
      'Combien de messages SELECT annonce-t-il ? Après lecture, où le message est-il rangé : quelle différence avec POP3 ?',
  }),
};

function valuesOf(s: StudentInfo, card: CardModel): Values {
  return {
    n: s.student,
    host: card.host,
    domain: card.domain,
    ...card.ports,
    first: card.accounts[0]?.user ?? '',
    second: card.accounts[1]?.user ?? '',
    secondPassword: card.accounts[1]?.password ?? '',
  };
}

/** One student's handout: the lab's exercises, in its order and with its titles, filled in with their values. */
export function studentHandout(
  info: ClassInfo,
  s: StudentInfo,
  exercises: { id: string; title: string }[],
): StudentHandout {
  const card = cardModel(info, s);
  const v = valuesOf(s, card);
  return {
    student: s.student,
    heading: `${info.title} · ${card.title}`,
    card,
    tools: [
      {
        text: `Se connecter au serveur (par exemple avec ${v.second}, avec le mot de passe de ce compte) :`,
        kind: 'shell',
        lines: [`ssh -p ${v.ssh} ${v.second}@${v.host}`],
      },
      {
        text: 'Le fichier où sont rangés les messages d’un compte (ici ceux de ce compte) :',
        kind: 'shell',
        lines: [`cat /var/spool/mail/${v.second}`],
      },
      {
        text: 'Les lire avec le lecteur de courrier en ligne de commande (le numéro d’un message l’affiche, q pour quitter) :',
        kind: 'shell',
        lines: ['mail'],
      },
      {
        text: 'Le journal du serveur de messagerie, en entier ou en direct (Ctrl+C pour arrêter) :',
        kind: 'shell',
        lines: ['less /var/log/mail.log', 'tail -f /var/log/mail.log'],
      },
    ],
    exercises: exercises.map(({ id, title }) => ({
      id,
      title,
      ...(EXERCISES[id]?.(v) ?? { goal: 'Suivez les consignes de votre enseignant pour cet exercice.', steps: [] }),
    })),
  };
}

// ---------------------------------------------------------------- HTML

const CSS = `
@page { size: A4; margin: 14mm 13mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #e8e8e8; color: #111; font: 10pt/1.35 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
.student { width: 190mm; margin: 8mm auto; padding: 8mm 10mm; background: #fff; border: 0.3mm solid #999; }
.student + .student { break-before: page; page-break-before: always; }
.student > header { border-bottom: 0.6mm solid #222; padding-bottom: 2mm; margin-bottom: 3mm; }
.student h1 { font-size: 16pt; margin: 0; }
.student > header .lab { color: #444; font-size: 10pt; }
h2 { font-size: 12.5pt; margin: 4mm 0 2mm; padding-bottom: 0.6mm; border-bottom: 0.3mm solid #888; break-after: avoid; }
h3 { font-size: 11pt; margin: 0 0 1.5mm; break-after: avoid; }
p { margin: 1mm 0 1.5mm; }
.grid { display: grid; grid-template-columns: 40mm 1fr; gap: 0 6mm; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.8mm 2mm; border: 0.2mm solid #bbb; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; white-space: nowrap; }
code, pre, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", Consolas, monospace; font-size: 9pt; }
pre { line-height: 1.3; }
pre { margin: 1mm 0 2mm; padding: 1.5mm 2.5mm; background: #f5f5f5; border-left: 1mm solid #7a8fa6;
  white-space: pre-wrap; overflow-wrap: anywhere; break-inside: avoid; }
pre.shell { border-left-color: #8a8a8a; }
.ports td { font-size: 10.5pt; font-weight: 700; }
.server { font-size: 11.5pt; }
.server .mono { font-size: 11.5pt; font-weight: 700; }
.exercise { margin: 0 0 3mm; padding: 1.5mm 3mm; border: 0.2mm solid #ccc; border-radius: 1mm; }
.step { break-inside: avoid; }
h2.exercises { break-before: page; }
.exercise .num { display: inline-block; min-width: 7mm; }
.note { color: #444; font-size: 9pt; margin-top: -1mm; }
.question { font-style: italic; margin-top: 1.5mm; }
.question::before { content: "À réfléchir : "; font-style: normal; font-weight: 600; }
.page { margin-top: 3mm; padding: 1.5mm 3mm; border: 0.3mm dashed #666; overflow-wrap: anywhere; }
@media print {
  body { background: #fff; }
  .student { width: auto; margin: 0; padding: 0; border: none; }
}
`;

const e = escapeHtml;

function stepHtml(step: Step): string {
  const lines = step.lines ? `\n<pre class="${e(step.kind ?? 'shell')}">${e(step.lines.join('\n'))}</pre>` : '';
  const note = step.note ? `\n<p class="note">${e(step.note)}</p>` : '';
  return `<div class="step">\n<p>${e(step.text)}</p>${lines}${note}\n</div>`;
}

function sectionHtml(h: StudentHandout, labTitle: string): string {
  const m = h.card;
  const page = pageHtml(m.page, '<br>Chaque exercice s’y coche tout seul quand le serveur a vu que vous l’avez fait.');
  const exercises = h.exercises
    .map(
      (x, i) => `<article class="exercise" data-exercise="${e(x.id)}">
<h3><span class="num">${i + 1}.</span> ${e(x.title)}</h3>
<p>${e(x.goal)}</p>
${x.steps.map(stepHtml).join('\n')}${x.question ? `\n<p class="question">${e(x.question)}</p>` : ''}
</article>`,
    )
    .join('\n');
  return `<section class="student" data-student="${e(h.student)}">
<header><h1>${e(m.title)}</h1><div class="lab">${e(labTitle)}</div></header>
<p class="server">Votre serveur : <span class="mono">${e(m.host)}</span> &nbsp;·&nbsp; domaine de messagerie : <span class="mono">${e(m.domain)}</span></p>
<p>Ce serveur est à vous seul : Postfix y répond en SMTP, Courier en POP3 et en IMAP. Ses ports ne sont pas les ports habituels (25, 110, 143, 22) : utilisez toujours ceux de cette feuille. Les comptes sont de vrais comptes Linux, et chaque message reçu est ajouté au fichier /var/spool/mail/&lt;compte&gt;.</p>
<div class="grid">
<div>
<h2>Vos ports</h2>
${portsTable(m.ports)}
</div>
<div>
<h2>Vos deux comptes</h2>
${accountsTable(m.accounts)}
</div>
</div>
${page}
<h2>Avant de commencer</h2>
<p>Dans telnet, tapez une commande par ligne, validez avec Entrée et lisez la réponse avant la ligne suivante : un code SMTP qui commence par 2 ou 3, « +OK » en POP3 ou « OK » en IMAP veut dire que la commande est acceptée. Une faute de frappe ? La touche d’effacement ne marche pas toujours dans telnet : retapez la ligne. Pour sortir d’un telnet bloqué : Ctrl+] puis <code>quit</code>.</p>
<p>Avant le premier envoi, repérez dans le cours les commandes SMTP qui construisent l’enveloppe, celle qui annonce le contenu, et ce qui sépare les en-têtes du corps du message. À chaque exercice, regardez ce que le serveur a écrit dans le journal et dans les boîtes aux lettres.</p>
<h2>Voir ce que le serveur a fait</h2>
${h.tools.map(stepHtml).join('\n')}
<h2 class="exercises">Les exercices</h2>
${exercises}
<h2>Pour aller plus loin : un client de messagerie graphique</h2>
<p>Configurez un client graphique (Thunderbird par exemple) avec ces réglages, envoyez-vous un message et relevez-le, puis affichez la source d’un message reçu.</p>
<table class="client">
${rowsHtml(m.client)}
</table>
</section>`;
}

/** The handouts of a class: one section per student, each starting on a new printed page. */
export function handoutHtml(info: ClassInfo, exercises: { id: string; title: string }[]): string {
  return `<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(`Énoncé du TD · classe ${info.class} · ${info.title}`)}</title>
<style>${CSS}</style>
</head>
<body>
${info.students.map((s) => sectionHtml(studentHandout(info, s, exercises), info.title)).join('\n')}
</body>
</html>
`;
}
