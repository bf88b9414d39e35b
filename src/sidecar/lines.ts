import type { CompiledLab } from '../core/lab-rules/compile.js';
import type { RuleContext } from '../core/lab-rules/conditions.js';
import { readCaptures } from '../core/lab-rules/template.js';
import { readVerifyLine, TRUSTED_UIDS } from './parse-log.js';

/** What one line of the verification log is, as a line pattern of the lab reads it: the pattern's name and fields. */
export interface LabEvent {
  name: string;
  /** The captures, the `set` fields, and every line's: time, uid, pid, host, program, daemon. */
  fields: Record<string, unknown>;
}

/**
 * The events of one line of the verification log: one per line pattern of the lab that matches it. A line of another
 * shape, or from a sender the kernel does not say is trusted (root, Postfix), is none: a lab's patterns only ever
 * read the lines rsyslog vouched for.
 */
export function eventsOfLine(
  line: string,
  lab: CompiledLab,
  ctx: RuleContext,
  trustedUids: ReadonlySet<number> = TRUSTED_UIDS,
): LabEvent[] {
  const v = readVerifyLine(line, trustedUids);
  if (!v) return [];
  const base = {
    time: v.time,
    uid: v.uid,
    pid: v.pid,
    host: v.host,
    program: v.program,
    daemon: v.program.slice(v.program.lastIndexOf('/') + 1),
  };
  const events: LabEvent[] = [];
  for (const p of lab.patterns) {
    if (!p.program.test(v.program)) continue;
    if (p.uids && !p.uids.includes(v.uid === 0 ? 'root' : 'postfix')) continue;
    const m = p.line.regex.exec(v.message);
    if (!m) continue;
    const fields: Record<string, unknown> = { ...base, ...readCaptures(p.line, m) };
    let whole = true;
    for (const w of p.within) {
      const inner = w.line.regex.exec(String(fields[w.field] ?? ''));
      if (!inner) {
        whole = false;
        break;
      }
      Object.assign(fields, readCaptures(w.line, inner));
    }
    if (!whole) continue;
    for (const s of p.set) {
      const value = s.text.value ? s.text.value(fields) : s.text.render(fields);
      if (value !== undefined && value !== null) fields[s.field] = value;
    }
    if (p.where(fields, ctx)) events.push({ name: p.name, fields });
  }
  return events;
}
