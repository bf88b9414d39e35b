import type { Engine } from '../docker/engine.js';
import { usageError } from '../errors.js';
import { lineTime } from './log-time.js';
import type { ObservedStudent } from './observed-class.js';

/** "10m", "2h", "1d" ago, or an ISO date/time. */
export function parseSince(value: string, now = Date.now()): string {
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(relative[1]) * unit * 1000).toISOString();
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw usageError(
      `--since "${value}" is not a time`,
      'Use a duration such as 10m, 2h or 1d, or a date such as 2026-11-26T09:00.',
    );
  }
  return date.toISOString();
}

/** Keeps the lines written at or after `since`; a line without a timestamp goes with the one before it. */
export function sinceFilter(since: string | undefined): (line: string) => boolean {
  let keep = since === undefined;
  return (line) => {
    if (since === undefined) return true;
    const time = lineTime(line);
    if (time !== undefined) keep = time >= since;
    return keep;
  };
}

/**
 * The student's mail log (Postfix and Courier lines, as the TD has them follow their connection), whole lines at a
 * time, from `since`; with `follow`, until `signal` aborts (the engine stops its reader in the student's environment).
 */
export async function studentLog(
  engine: Engine,
  student: ObservedStudent,
  options: { follow?: boolean; since?: string; signal: AbortSignal; onLines: (text: string) => void },
): Promise<void> {
  const mail = student.mail!;
  if (mail.state !== 'running')
    throw usageError(`Student ${student.student}'s mail server is ${mail.state}.`, 'Start it with `labctl up`.');
  const keep = sinceFilter(options.since);
  let partial = '';
  const onChunk = (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    const kept = lines.filter(keep);
    if (kept.length > 0) options.onLines(`${kept.join('\n')}\n`);
  };
  if (!options.follow) {
    await engine.streamLog(mail, { follow: false, onChunk });
    if (partial) onChunk('\n');
    return;
  }
  await engine.streamLog(mail, { follow: true, onChunk, signal: options.signal });
}
