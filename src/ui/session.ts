import { endLine } from '../core/class-session.js';
import { clockText, durationText, type Session } from '../core/session.js';

/** The time box in a line or two: the class's end and how far it is, then the students with extra time. */
export function sessionSummary(session: Session, now = Date.now()): string {
  const end = Date.parse(session.end);
  const when = end > now ? `in ${durationText(end - now)}` : `${durationText(now - end)} ago`;
  const extra = Object.keys(session.extra)
    .map(Number)
    .sort((a, b) => a - b)
    .map((n) => `student ${n} until ${endLine(session, n)}`);
  return `Session ends at ${clockText(end, session.timeZone)} (${when}, ${session.timeZone}).${
    extra.length > 0 ? `\nExtra time: ${extra.join(', ')}.` : ''
  }`;
}
