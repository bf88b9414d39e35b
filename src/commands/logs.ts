import { LABEL } from '../core/labels.js';
import { lineTime } from '../core/log-time.js';
import { usageError } from '../errors.js';
import { DEFAULT_CLASS, defaultContext, type Context } from './context.js';

export interface LogsOptions {
  className?: string;
  student: number;
  follow?: boolean;
  since?: string;
}

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

/** The student's mail log (Postfix and Courier lines), as the TD asks them to follow their connection. */
export async function logs(
  options: LogsOptions,
  ctx: Context = defaultContext({ className: options.className ?? DEFAULT_CLASS }),
): Promise<void> {
  const { engine } = ctx;
  const className = options.className ?? DEFAULT_CLASS;
  const since = options.since === undefined ? undefined : parseSince(options.since);
  await engine.ping();
  const { containers } = await engine.list(className);
  const mail = containers.find(
    (c) => c.labels[LABEL.role] === 'mail' && c.labels[LABEL.student] === String(options.student),
  );
  if (!mail) throw usageError(`Class ${className} has no student ${options.student}.`, 'See `labctl status`.');
  if (mail.state !== 'running')
    throw usageError(`Student ${options.student}'s mail server is ${mail.state}.`, 'Start it with `labctl up`.');

  const keep = sinceFilter(since);
  let partial = '';
  const print = (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    const kept = lines.filter(keep);
    if (kept.length > 0) ctx.reporter.write(`${kept.join('\n')}\n`);
  };
  if (!options.follow) {
    await engine.streamLog(mail, { follow: false, onChunk: print });
    if (partial) print('\n');
    return;
  }
  // Until Ctrl-C; the engine stops its reader in the student's environment too.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await engine.streamLog(mail, { follow: true, onChunk: print, signal: stop.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
