import type { ClassInfo, StudentInfo } from '../core/class-model.js';
import { escapeHtml } from '../core/html.js';
import type { HandoutText } from '../core/lab.js';
import { compileText } from '../core/lab-rules/template.js';
import { caFileName } from '../core/services.js';
import { accountsTable, caHtml, cardModel, pageHtml, portsTable, rowsHtml, type CardModel } from './print-cards.js';

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
  /** What the server is (a paragraph). */
  intro?: string;
  /** "Avant de commencer": paragraphs. */
  before: string[];
  /** How to look at what the server did: ssh, the spool file, `mail`, the mail log. */
  tools: Step[];
  /** The mail client part's introduction. */
  client?: string;
  exercises: HandoutExercise[];
}

/** What a handout is made from: the lab's exercises (ids and titles, in its order) and its French text. */
export interface HandoutLab {
  exercises: { id: string; title: string }[];
  handout?: HandoutText;
}

/** This student's values, as the handout's texts name them in {…}. */
function valuesOf(info: ClassInfo, s: StudentInfo, card: CardModel): Record<string, unknown> {
  return {
    n: s.student,
    host: card.host,
    domain: card.domain,
    ports: Object.fromEntries(Object.entries(s.ports).map(([k, v]) => [k, String(v)])),
    first: card.accounts[0]?.user ?? '',
    second: card.accounts[1]?.user ?? '',
    firstPassword: card.accounts[0]?.password ?? '',
    secondPassword: card.accounts[1]?.password ?? '',
    ca: caFileName(info.class),
    class: info.class,
  };
}

const fill = (text: string, values: Record<string, unknown>) => compileText(text, []).render(values);

function fillStep(step: HandoutText['tools'][number], values: Record<string, unknown>): Step {
  return {
    text: fill(step.text, values),
    ...(step.kind && { kind: step.kind }),
    ...(step.lines && { lines: step.lines.map((l) => fill(l, values)) }),
    ...(step.note !== undefined && { note: fill(step.note, values) }),
  };
}

/** One student's handout: the lab's exercises, in its order and with its titles, filled in with their values. */
export function studentHandout(info: ClassInfo, s: StudentInfo, lab: HandoutLab): StudentHandout {
  const card = cardModel(info, s);
  const values = valuesOf(info, s, card);
  const text = lab.handout;
  return {
    student: s.student,
    heading: `${info.title} · ${card.title}`,
    card,
    ...(text?.intro !== undefined && { intro: fill(text.intro, values) }),
    before: (text?.before ?? []).map((b) => fill(b, values)),
    tools: (text?.tools ?? []).map((t) => fillStep(t, values)),
    ...(text?.client !== undefined && { client: fill(text.client, values) }),
    exercises: lab.exercises.map(({ id, title }) => {
      const x = text?.exercises[id];
      return x
        ? {
            id,
            title,
            goal: fill(x.goal, values),
            steps: x.steps.map((t) => fillStep(t, values)),
            ...(x.question !== undefined && { question: fill(x.question, values) }),
          }
        : { id, title, goal: 'Suivez les consignes de votre enseignant pour cet exercice.', steps: [] };
    }),
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

/** Text of the handout, escaped; `code` in it is set as code. */
const t = (text: string) => e(text).replace(/`([^`]+)`/g, '<code>$1</code>');

function stepHtml(step: Step): string {
  const lines = step.lines ? `\n<pre class="${e(step.kind ?? 'shell')}">${e(step.lines.join('\n'))}</pre>` : '';
  const note = step.note ? `\n<p class="note">${t(step.note)}</p>` : '';
  return `<div class="step">\n<p>${t(step.text)}</p>${lines}${note}\n</div>`;
}

function sectionHtml(h: StudentHandout, labTitle: string): string {
  const m = h.card;
  const page = pageHtml(m.page, '<br>Chaque exercice s’y coche tout seul quand le serveur a vu que vous l’avez fait.');
  const exercises = h.exercises
    .map(
      (x, i) => `<article class="exercise" data-exercise="${e(x.id)}">
<h3><span class="num">${i + 1}.</span> ${e(x.title)}</h3>
<p>${t(x.goal)}</p>
${x.steps.map(stepHtml).join('\n')}${x.question ? `\n<p class="question">${t(x.question)}</p>` : ''}
</article>`,
    )
    .join('\n');
  return `<section class="student" data-student="${e(h.student)}">
<header><h1>${e(m.title)}</h1><div class="lab">${e(labTitle)}</div></header>
<p class="server">Votre serveur : <span class="mono">${e(m.host)}</span> &nbsp;·&nbsp; domaine de messagerie : <span class="mono">${e(m.domain)}</span></p>
${h.intro !== undefined ? `<p>${t(h.intro)}</p>\n` : ''}<div class="grid">
<div>
<h2>Vos ports</h2>
${portsTable(m.ports)}
</div>
<div>
<h2>Vos deux comptes</h2>
${accountsTable(m.accounts)}
</div>
</div>
${caHtml(m.ca)}${page}
${h.before.length > 0 ? `<h2>Avant de commencer</h2>\n${h.before.map((b) => `<p>${t(b)}</p>`).join('\n')}\n` : ''}${h.tools.length > 0 ? `<h2>Voir ce que le serveur a fait</h2>\n${h.tools.map(stepHtml).join('\n')}\n` : ''}<h2 class="exercises">Les exercices</h2>
${exercises}
${
  h.client !== undefined
    ? `<h2>Pour aller plus loin : un client de messagerie graphique</h2>
<p>${t(h.client)}</p>
<table class="client">
${rowsHtml(m.client)}
</table>
`
    : ''
}</section>`;
}

/** The handouts of a class: one section per student, each starting on a new printed page. */
export function handoutHtml(info: ClassInfo, lab: HandoutLab): string {
  return `<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(`Énoncé du TD · classe ${info.class} · ${info.title}`)}</title>
<style>${CSS}</style>
</head>
<body>
${info.students.map((s) => sectionHtml(studentHandout(info, s, lab), info.title)).join('\n')}
</body>
</html>
`;
}
