import { z } from 'zod';
import { compileText } from './lab-rules/template.js';
import { SpecError } from './lab-rules/spec.js';
import { parseYaml } from './lab-yaml.js';

const step = z
  .object({
    text: z.string(),
    kind: z.enum(['shell', 'smtp', 'pop3', 'imap']).optional(),
    lines: z.array(z.string()).optional(),
    note: z.string().optional(),
  })
  .strict();

/** A lab's handout.yaml: the French text of `labctl handout`, with each student's values in {…}. */
export const handoutSchema = z
  .object({
    intro: z.string().optional(),
    before: z.array(z.string()).default([]),
    tools: z.array(step).default([]),
    client: z.string().optional(),
    exercises: z
      .record(
        z.string(),
        z.object({ goal: z.string(), steps: z.array(step).default([]), question: z.string().optional() }).strict(),
      )
      .default({}),
  })
  .strict();

export type HandoutText = z.infer<typeof handoutSchema>;
/** What a handout's {…} may name. */
export const HANDOUT_VALUES = [
  'n',
  'host',
  'domain',
  'ports',
  'first',
  'second',
  'firstPassword',
  'secondPassword',
  'ca',
  'class',
];

/** A lab's handout.yaml: its exercises are the lab's, and its {…} name a student's values. */
export function parseHandout(text: string, file: string, lab: { exercises: { id: string }[] }): HandoutText {
  return parseYaml(text, file, handoutSchema, (data) => {
    const checkText = (value: string, at: (string | number)[]) => {
      for (const p of compileText(value, at).paths) {
        if (!HANDOUT_VALUES.includes(p.split('.')[0]!))
          throw new SpecError(at, `"${p}" is not a student's value (${HANDOUT_VALUES.join(', ')})`);
      }
    };
    const checkStep = (s: z.infer<typeof step>, at: (string | number)[]) => {
      checkText(s.text, [...at, 'text']);
      s.lines?.forEach((l, i) => checkText(l, [...at, 'lines', i]));
      if (s.note !== undefined) checkText(s.note, [...at, 'note']);
    };
    if (data.intro !== undefined) checkText(data.intro, ['intro']);
    data.before.forEach((b, i) => checkText(b, ['before', i]));
    data.tools.forEach((s, i) => checkStep(s, ['tools', i]));
    if (data.client !== undefined) checkText(data.client, ['client']);
    for (const [id, x] of Object.entries(data.exercises)) {
      if (!lab.exercises.some((e) => e.id === id))
        throw new SpecError(['exercises', id], `the lab has no exercise "${id}"`);
      checkText(x.goal, ['exercises', id, 'goal']);
      x.steps.forEach((s, i) => checkStep(s, ['exercises', id, 'steps', i]));
      if (x.question !== undefined) checkText(x.question, ['exercises', id, 'question']);
    }
    return data;
  });
}
