/**
 * The TD's checks as a library, for tests and tools: the rules of the default lab (labs/smtp-pop-imap/lab.yaml), read
 * with labctl's own loader. The sidecar itself runs the rules labctl gives it (verifier.ts) and never loads this file,
 * nor the YAML and schema code it brings in.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_LAB_FILE, parseLab } from '../core/lab.js';
import { compileRules, type CompiledLab } from '../core/lab-rules/compile.js';
import { ARCHIVE } from '../core/limits.js';
import type { LogEvent } from './events.js';
import type { LabEvent } from './lines.js';
import type { MessageFacts } from './message.js';
import { LabVerifier, type VerifierOptions } from './verifier.js';

export { HINT_LIMIT, writtenHeaders, type Evidence, type Result, type VerifierStats } from './verifier.js';

/** The address Postfix's always_bcc sends the archive copy to; its delivery (by virtual) proves nothing. */
export const ARCHIVE_ADDRESS = ARCHIVE.address;

let td: { lab: CompiledLab; ids: string[] } | undefined;

/** The default lab's rules, compiled once. */
export function defaultLab(): { lab: CompiledLab; ids: string[] } {
  if (!td) {
    const lab = parseLab(readFileSync(DEFAULT_LAB_FILE, 'utf8'), DEFAULT_LAB_FILE);
    td = { lab: compileRules(lab), ids: lab.exercises.map((e) => e.id) };
  }
  return td;
}

/** Every exercise of the default lab, in its order. */
export const EXERCISE_IDS: readonly string[] = defaultLab().ids;

/** A verifier of the default lab unless given another; it takes parsed log events (parse-log.ts) as their lines. */
export class Verifier extends LabVerifier {
  constructor(options: Omit<VerifierOptions, 'lab'> & { lab?: CompiledLab }) {
    super({ ...options, lab: options.lab ?? defaultLab().lab });
  }

  override addEvent(e: LogEvent | LabEvent): void {
    if ('fields' in e) super.addEvent(e);
    else this.addLine(e.raw);
  }
}

/** What the batch evaluate() reads: trusted events and archived messages. */
export interface CheckInput {
  events: LogEvent[];
  messages: MessageFacts[];
  /** The student's mail domain first, e.g. s01.td1.test: the class's domain (td1.test) is inside the lab. */
  labDomains: string[];
  /** The accounts of the student's server (see VerifierOptions). */
  accounts?: readonly string[];
}

/** The hints a whole log and archive give at once (tests, tooling): exercise id → hint, for those not done. */
export function hintsFor(input: CheckInput, exerciseIds: string[]): Record<string, string> {
  const verifier = new Verifier({
    cardDomain: input.labDomains[0] ?? '',
    exercises: exerciseIds,
    ...(input.accounts && { accounts: input.accounts }),
  });
  for (const m of input.messages) verifier.addMessage(m);
  for (const e of input.events) verifier.addEvent(e);
  return Object.fromEntries(verifier.hints());
}

/**
 * One result per requested exercise, in order, from a whole log and archive at once (tests, tooling). An id
 * without a check is reported as not done.
 */
export function evaluate(input: CheckInput, exerciseIds: string[]) {
  const verifier = new Verifier({ cardDomain: input.labDomains[0] ?? '', exercises: exerciseIds });
  for (const m of input.messages) verifier.addMessage(m);
  for (const e of input.events) verifier.addEvent(e);
  return exerciseIds.map((id) => {
    const found = verifier.peek(id);
    return { id, done: found !== undefined, at: found?.at ?? null, evidence: found?.evidence ?? null };
  });
}
