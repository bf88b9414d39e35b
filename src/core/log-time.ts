/**
 * The timestamps of rsyslog's mail.log, traditional ("Mar  4 10:02:03", no year nor zone: read as UTC) or RFC 3339:
 * what the sidecar's log parser and `labctl logs --since` read.
 */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TRADITIONAL = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (.*)$/;
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (.*)$/;

/** The clock, injected so that tests (and the year of traditional timestamps) do not depend on today. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

/** The time a log line was written, as an ISO string, or undefined for a line without a timestamp. */
export function lineTime(line: string, now: Clock = systemClock): string | undefined {
  return parseStamp(line, now)?.time;
}

const DAY_MS = 24 * 3600 * 1000;

/** A line's timestamp, traditional or RFC 3339, and the rest of the line; undefined for a line without one. */
export function parseStamp(line: string, now: Clock): { time: string; rest: string } | undefined {
  const iso = RFC3339.exec(line);
  if (iso) {
    const date = new Date(iso[1] ?? '');
    return Number.isNaN(date.getTime()) ? undefined : { time: date.toISOString(), rest: iso[2] ?? '' };
  }
  const old = TRADITIONAL.exec(line);
  if (!old) return undefined;
  const month = MONTHS.indexOf(old[1] ?? '');
  const [day, hour, minute, second] = [old[2], old[3], old[4], old[5]].map(Number) as [number, number, number, number];
  if (month < 0 || hour > 23 || minute > 59 || second > 59) return undefined;
  const today = now();
  let year = today.getUTCFullYear();
  let date = new Date(Date.UTC(year, month, day, hour, minute, second));
  // No year in the line: one that would be more than a day ahead of now was written last year.
  if (date.getTime() > today.getTime() + DAY_MS) {
    year -= 1;
    date = new Date(Date.UTC(year, month, day, hour, minute, second));
  }
  // Date.UTC rolls "Feb 31" over into March: refuse it rather than invent a time.
  if (date.getUTCDate() !== day) return undefined;
  return { time: date.toISOString(), rest: old[6] ?? '' };
}
