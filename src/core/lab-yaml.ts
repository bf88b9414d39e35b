import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { usageError } from '../errors.js';
import { SpecError } from './lab-rules/spec.js';

/** The line of the YAML node at `at`, or of its nearest parent that is there. */
function lineOf(doc: Document, counter: LineCounter, at: readonly PropertyKey[]): number | undefined {
  for (let p = [...at]; ; p = p.slice(0, -1)) {
    const node = p.length === 0 ? doc.contents : doc.getIn(p as (string | number)[], true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return counter.linePos(range[0]).line;
    if (p.length === 0) return undefined;
  }
}

/**
 * Reads a YAML file of a lab with its schema, then `check`s it: every problem names the file, the field and its line.
 */
export function parseYaml<S extends z.ZodType, T>(
  text: string,
  file: string,
  schema: S,
  check: (data: z.infer<S>) => T,
): T {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos?.[0] ? ` (line ${first.linePos[0].line})` : '';
    throw usageError(`${file}${where}: not valid YAML: ${first.message.split('\n')[0]}`);
  }
  const problem = (at: readonly PropertyKey[], message: string) => {
    const field = at.length > 0 ? at.map(String).join('.') : '(top level)';
    const line = lineOf(doc, counter, at);
    return `  ${field}: ${message}${line === undefined ? '' : ` (line ${line})`}`;
  };
  const invalid = (lines: string[]) =>
    usageError(
      `${file}: invalid lab file:\n${lines.join('\n')}`,
      'Fix the fields above; see "Lab format" in the README.',
    );
  const parsed = schema.safeParse(doc.toJS());
  if (!parsed.success) throw invalid(parsed.error.issues.map((issue) => problem(issue.path, issue.message)));
  try {
    return check(parsed.data);
  } catch (error) {
    if (error instanceof SpecError) throw invalid([problem(error.path, error.message)]);
    throw error;
  }
}
