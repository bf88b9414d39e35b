import { z } from 'zod';
import type { Engine, LabelledObject } from '../docker/engine.js';
import { usageError } from '../errors.js';
import { newestRecord, saveRecord, type ClassRecord } from './class-record.js';
import { LABEL } from './labels.js';

export { durationText } from './durations.js';

/**
 * A graded session's time box. It lives on the engine with the class, as the roster does: a volume labelled with the
 * class whose `dev.labctl.session` label holds this record (JSON). Labels cannot change, so a change writes a new
 * volume and then removes the old ones; the newest record wins. What enforces the end is elsewhere: each student's
 * mail server and sidecar hold their own copy of their end (pushed by labctl, see class-session.ts), and act on it
 * with labctl not running.
 */
export interface Session {
  class: string;
  /** When the time box was set (ISO). */
  start: string;
  /** The class's end (ISO). */
  end: string;
  /** The instructor's time zone (IANA), in which ends are shown to students ("16:00"). */
  timeZone: string;
  /** Extra time per seat, in milliseconds (`extend --student N`): that student's end is the class's plus this. */
  extra: Record<string, number>;
  /** When each seat's evidence was last archived (ISO): `down --purge` wants one after that student's end. */
  archived: Record<string, string>;
  /** When this record was written (ISO); the newest record of a class wins. */
  savedAt: string;
}

const StoredSchema = z.object({
  start: z.string(),
  end: z.string(),
  timeZone: z.string(),
  extra: z.record(z.string(), z.number()).default({}),
  archived: z.record(z.string(), z.string()).default({}),
  savedAt: z.string(),
});

const SESSION: ClassRecord<z.infer<typeof StoredSchema>> = {
  role: 'session',
  label: LABEL.session,
  schema: StoredSchema,
  time: (r) => r.savedAt,
};

/** The class's session among its volumes (the newest, when an interrupted change left two), or undefined. */
export function sessionOf(className: string, volumes: LabelledObject[]): Session | undefined {
  const stored = newestRecord(SESSION, volumes);
  return stored && { class: className, ...stored };
}

/**
 * Stores the session, replacing the class's previous record (class-record.ts). Its `savedAt` is now, or just after
 * the newest record it replaces, so that it wins even against a clock that went back. Callers hold the class's lock.
 */
export async function saveSession(
  engine: Pick<Engine, 'list' | 'createVolume' | 'removeVolume'>,
  session: Session,
  now: Date = new Date(),
): Promise<Session> {
  const { class: className, ...fields } = session;
  const stored = await saveRecord(engine, SESSION, className, (previous) => {
    const after = previous.map((r) => Date.parse(r.savedAt) + 1).filter(Number.isFinite);
    return { ...fields, savedAt: new Date(Math.max(now.getTime(), ...after)).toISOString() };
  });
  return { class: className, ...stored };
}

/** Student n's end (ms): the class's, plus their extra time. */
export function studentEnd(session: Session, n: number): number {
  return Date.parse(session.end) + (session.extra[String(n)] ?? 0);
}

/** The last end of the class, extra time included (ms), over these seats. */
export function lastEnd(session: Session, seats: number[]): number {
  return Math.max(Date.parse(session.end), ...seats.map((n) => studentEnd(session, n)));
}

/** Whether seat n's evidence was archived after their end. */
export function archivedAfterEnd(session: Session, n: number): boolean {
  const at = session.archived[String(n)];
  return at !== undefined && Date.parse(at) > studentEnd(session, n);
}

/** This host's time zone, in which `--until 16:00` is read and ends are shown. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** A time of day as students read it ("16:00"), in the class's time zone. */
export function clockText(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('fr-FR', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone }).format(
    new Date(ms),
  );
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)(?:m|min))?(?:(\d+)s)?$/;

/** A duration such as 2h, 90m, 1h30m or 45s, in milliseconds; `flag` names it in the error. */
export function parseDuration(value: string, flag: string): number {
  const m = DURATION.exec(value.trim().replace(/\s+/g, ''));
  const ms = m ? ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000 : NaN;
  if (!m || !(ms > 0)) {
    throw usageError(`${flag} "${value}" is not a duration`, 'Use hours, minutes or seconds: 2h, 90m, 1h30m, 45s.');
  }
  return ms;
}

/**
 * A time the session ends: a time of day (16:00, 16h00, 9:30), today in `timeZone`, or a date and time
 * (2026-12-02T16:00, read in `timeZone` unless it carries its own offset).
 */
export function parseUntil(value: string, flag: string, now: Date, timeZone: string): number {
  const v = value.trim();
  const clock = /^(\d{1,2})[:h](\d{2})$/.exec(v);
  const date = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(v);
  let ms = NaN;
  if (clock && Number(clock[1]) < 24 && Number(clock[2]) < 60) {
    const today = zonedParts(now.getTime(), timeZone);
    ms = zonedTime(today.year, today.month, today.day, Number(clock[1]), Number(clock[2]), 0, timeZone);
  } else if (date) {
    const [, y, mo, d, h, mi, s] = date.map(Number) as number[];
    ms = zonedTime(y!, mo!, d!, h!, mi!, s || 0, timeZone);
  } else if (/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    ms = Date.parse(v);
  }
  if (!Number.isFinite(ms)) {
    throw usageError(
      `${flag} "${value}" is not a time`,
      'Use a time of day such as 16:00 (today), or a date and time such as 2026-12-02T16:00.',
    );
  }
  return ms;
}

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function zonedParts(ms: number, timeZone: string): Parts {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? NaN);
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
  };
}

/** The instant at which the clocks of `timeZone` show this date and time. */
function zonedTime(y: number, mo: number, d: number, h: number, mi: number, s: number, timeZone: string): number {
  const wanted = Date.UTC(y, mo - 1, d, h, mi, s);
  let guess = wanted;
  // Two passes settle the zone's offset, daylight saving changes included.
  for (let i = 0; i < 2; i++) {
    const p = zonedParts(guess, timeZone);
    guess += wanted - Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  }
  return guess;
}
