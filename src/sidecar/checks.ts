import type { Delivery, LogEvent, MailService } from './events.js';
import type { MessageHeader, StoredMessage } from './message.js';

export interface CheckInput {
  events: LogEvent[];
  messages: StoredMessage[];
  /** The lab's own mail domains, e.g. s01.td1.test. Their subdomains and localhost are inside too. */
  labDomains: string[];
}

/** What earned the credit, and when (ISO time), if the log tells. */
export interface Evidence {
  at: string | null;
  evidence: string;
}

export interface Result {
  id: string;
  done: boolean;
  at: string | null;
  evidence: string | null;
}

export type Check = (input: CheckInput) => Evidence | undefined;

type EventOf<T extends LogEvent['type']> = Extract<LogEvent, { type: T }>;

function eventsOf<T extends LogEvent['type']>(events: LogEvent[], type: T): EventOf<T>[] {
  return events.filter((e): e is EventOf<T> => e.type === type);
}

function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  return at < 0 ? undefined : address.slice(at + 1).toLowerCase();
}

/** A bare user ("util1") is inside: Postfix appends the lab's own domain to it. */
export function isInsideLab(address: string, labDomains: string[]): boolean {
  const domain = domainOf(address);
  if (domain === undefined || domain === 'localhost') return true;
  return labDomains.some((lab) => domain === lab.toLowerCase() || domain.endsWith(`.${lab.toLowerCase()}`));
}

/** The account an address delivers to: its local part, without a +extension. */
function accountOf(address: string): string {
  const at = address.lastIndexOf('@');
  return (at < 0 ? address : address.slice(0, at)).split('+')[0]?.toLowerCase() ?? '';
}

function smtpQueueIds(events: LogEvent[]): Set<string> {
  return new Set(eventsOf(events, 'smtp-client').map((e) => e.queueId));
}

function isLocalDelivery(d: Delivery, labDomains: string[]): boolean {
  return d.status === 'sent' && isInsideLab(d.to, labDomains);
}

/** When a message arrived: its first successful delivery, else any log line about its queue id. */
function receivedAt(events: LogEvent[], queueId: string): string | null {
  const own = events.filter((e) => 'queueId' in e && e.queueId === queueId);
  return (own.find((e) => e.type === 'delivery' && e.status === 'sent') ?? own[0])?.time ?? null;
}

function earliest(candidates: Evidence[]): Evidence | undefined {
  let best: Evidence | undefined;
  for (const c of candidates) {
    if (!best || (c.at !== null && (best.at === null || c.at < best.at))) best = c;
  }
  return best;
}

/**
 * The earliest message received over SMTP for which `describe` returns a text. A message counts as
 * received over SMTP when its top Received: header names a queue id (see receivedQueueId): this holds
 * even once the log lines are gone.
 */
function firstMessage(input: CheckInput, describe: (m: StoredMessage) => string | undefined): Evidence | undefined {
  const candidates: Evidence[] = [];
  for (const m of input.messages) {
    if (m.queueId === undefined) continue;
    const text = describe(m);
    if (text !== undefined) {
      candidates.push({
        at: receivedAt(input.events, m.queueId),
        evidence: `message ${m.queueId} (${m.account}): ${text}`,
      });
    }
  }
  return earliest(candidates);
}

function header(headers: MessageHeader[], key: string): string | undefined {
  return headers.find((h) => h.key === key)?.value;
}

const SERVER_TO = /^\s*undisclosed-recipients:\s*;\s*$/i;

/**
 * Postfix's cleanup adds missing Message-Id, Date, From and To headers, in that order after the last
 * header of the message, but only for clients on the server itself (local_header_rewrite_clients):
 * From: <envelope sender>, bare, and To: undisclosed-recipients:;. So a To: of that form is never the
 * student's, and a From: is the server's only if it equals the envelope sender and ends the headers
 * (nothing after it but such a To:). A "message-id=<>" log line rules the server out altogether: it
 * would have added a Message-Id. Assumed: nobody types "To: undisclosed-recipients:;" or puts a From:
 * equal to MAIL FROM last while also writing a Message-Id from inside the container.
 */
function studentFromTo(m: StoredMessage, events: LogEvent[]): { from: string; to: string } | undefined {
  const headers = m.parsed.headers;
  const to = headers.find((h) => h.key === 'to' && !SERVER_TO.test(h.value));
  const fromIndex = headers.findIndex((h) => h.key === 'from');
  const from = headers[fromIndex];
  if (!to || !from) return undefined;
  const queueId = m.queueId ?? '';
  const untouched = eventsOf(events, 'message-id').some((e) => e.queueId === queueId && e.messageId === '');
  const envelope =
    eventsOf(events, 'queued').find((e) => e.queueId === queueId)?.from ??
    header(headers, 'return-path')?.replace(/^\s*<|>\s*$/g, '');
  const endsHeaders = headers.slice(fromIndex + 1).every((h) => h.key === 'to' && SERVER_TO.test(h.value));
  const serverFrom = !untouched && endsHeaders && from.value.trim().toLowerCase() === envelope?.toLowerCase();
  return serverFrom ? undefined : { from: from.value.trim(), to: to.value.trim() };
}

function boundaryOf(headers: MessageHeader[]): string | undefined {
  const type = header(headers, 'content-type') ?? '';
  if (!/^\s*multipart\//i.test(type)) return undefined;
  return /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i
    .exec(type)
    ?.slice(1)
    .find((b) => b !== undefined);
}

function login(service: MailService): Check {
  return ({ events }) => {
    const e = eventsOf(events, 'login').find((l) => l.service === service);
    return (
      e && {
        at: e.time,
        evidence: `${e.user} logged in over ${service.toUpperCase()} from ${e.ip ?? 'an unknown address'}`,
      }
    );
  };
}

function logoutCount(service: MailService, count: string, what: string): Check {
  return ({ events }) => {
    const e = eventsOf(events, 'logout').find((l) => l.service === service && (l.counts[count] ?? 0) > 0);
    return (
      e && {
        at: e.time,
        evidence: `${e.user ?? 'a session'} ${what}: ${count}=${e.counts[count]} at ${service.toUpperCase()} logout`,
      }
    );
  };
}

export const EXERCISE_CHECKS: Record<string, Check> = {
  'smtp-simple': ({ events, labDomains }) => {
    const smtp = smtpQueueIds(events);
    const d = eventsOf(events, 'delivery').find((e) => smtp.has(e.queueId) && isLocalDelivery(e, labDomains));
    return d && { at: d.time, evidence: `message ${d.queueId} received over SMTP, delivered to ${d.to}` };
  },

  'smtp-subject': (input) =>
    firstMessage(input, (m) => (m.parsed.subject?.trim() ? `Subject: ${m.parsed.subject.trim()}` : undefined)),

  'smtp-two-recipients': ({ events, labDomains }) => {
    const smtp = smtpQueueIds(events);
    // local delivers each message twice per account (mailbox, then Maildir through .forward): count accounts.
    const accounts = new Map<string, Set<string>>();
    for (const d of eventsOf(events, 'delivery')) {
      if (!smtp.has(d.queueId) || !isLocalDelivery(d, labDomains)) continue;
      const seen = accounts.get(d.queueId) ?? new Set<string>();
      seen.add(accountOf(d.to));
      accounts.set(d.queueId, seen);
      if (seen.size >= 2) {
        return {
          at: d.time,
          evidence: `message ${d.queueId} delivered to ${[...seen].join(', ')} in one SMTP transaction`,
        };
      }
    }
    return undefined;
  },

  'smtp-attachment': (input) =>
    firstMessage(input, (m) => {
      const boundary = boundaryOf(m.parsed.headers);
      const part = m.parsed.attachments.find((a) => a.disposition === 'attachment');
      if (boundary === undefined || !part) return undefined;
      return `attachment ${part.filename ?? '(no name)'} (${part.mimeType}) in a multipart message, boundary "${boundary}"`;
    }),

  'smtp-attachment-base64': (input) =>
    firstMessage(input, (m) => {
      const part = m.parsed.attachments.find((a) => a.transferEncoding === 'base64' && a.size > 0);
      return part && `${part.filename ?? '(no name)'} (${part.mimeType}), ${part.size} bytes decoded from base64`;
    }),

  'smtp-headers-from-to': (input) =>
    firstMessage(input, (m) => {
      const written = studentFromTo(m, input.events);
      return written && `From: ${written.from} and To: ${written.to} written by the student`;
    }),

  'smtp-spoofed-sender': (input) => {
    const { events, labDomains } = input;
    const smtp = smtpQueueIds(events);
    const envelope = eventsOf(events, 'queued')
      .filter((q) => smtp.has(q.queueId) && !isInsideLab(q.from, labDomains))
      .map((q) => ({ at: q.time, evidence: `message ${q.queueId}: envelope sender ${q.from} is outside the lab` }));
    const header = firstMessage(input, (m) => {
      const from = m.parsed.from;
      return from !== undefined && !isInsideLab(from, labDomains) ? `From: ${from} is outside the lab` : undefined;
    });
    return earliest(header ? [...envelope, header] : envelope);
  },

  'smtp-external': ({ events, labDomains }) => {
    // A bounce notice (from=<>) to a forged outside sender is the server's doing, not an attempt.
    const bounces = new Set(
      eventsOf(events, 'queued')
        .filter((q) => q.from === '')
        .map((q) => q.queueId),
    );
    const candidates: Evidence[] = [];
    const d = eventsOf(events, 'delivery').find((e) => !bounces.has(e.queueId) && !isInsideLab(e.to, labDomains));
    if (d)
      candidates.push({ at: d.time, evidence: `message ${d.queueId} to ${d.to}: status=${d.status} (${d.detail})` });
    const r = eventsOf(events, 'reject').find((e) => e.to !== undefined && !isInsideLab(e.to, labDomains));
    if (r) candidates.push({ at: r.time, evidence: `${r.stage} to ${r.to} refused: ${r.code} ${r.reason}` });
    return earliest(candidates);
  },

  'pop-login': login('pop3'),
  'pop-retr': logoutCount('pop3', 'retr', 'read messages with RETR'),
  'imap-login': login('imap'),
  'imap-fetch': logoutCount('imap', 'body', 'fetched message bodies'),
};

/** One result per requested exercise, in order. An id without a check is reported as not done. */
export function evaluate(input: CheckInput, exerciseIds: string[]): Result[] {
  return exerciseIds.map((id) => {
    const found = EXERCISE_CHECKS[id]?.(input);
    return { id, done: found !== undefined, at: found?.at ?? null, evidence: found?.evidence ?? null };
  });
}
