/**
 * The exercises a message proves from its archived copy (the headers, the parts), once the trusted log ties it
 * to an SMTP transaction: what each says as evidence, and the near misses it gives as hints, in French.
 */
import type { MessageFacts } from './message.js';

/** Exercises proved by the archived copy of a message, once tied to its queue id in the trusted log. */
export const MESSAGE_EXERCISES = [
  'smtp-subject',
  'smtp-attachment',
  'smtp-attachment-base64',
  'smtp-headers-from-to',
] as const;

/** What the trusted log and the archive said so far about one queue id; dropped after maxAgeMs or beyond maxQueueIds. */
export interface QueueState {
  /** Clock time (ms) the sidecar first heard of the queue id. */
  seenAt: number;
  /** Time of smtpd's "client=" line: the message came in over SMTP. */
  clientAt?: string;
  /** cleanup logged "message-id=<>": it added no header. */
  noMessageId?: boolean;
  /** The envelope sender from qmgr ('' for a bounce notice). */
  from?: string;
  /** The first successful local delivery to a lab account. */
  delivered?: { at: string; to: string };
  /** The distinct accounts of the original recipients (orig_to, else to) of its local deliveries. */
  accounts: string[];
  /** The archived copy, waiting for the log lines that tie it to an SMTP transaction. */
  message?: MessageFacts;
  /** The archived copy was tied and checked: a later copy with the same id is ignored. */
  messageChecked?: boolean;
}

/**
 * Postfix's cleanup adds missing Message-Id, Date, From and To headers, in that order after the last
 * header of the message, but only for clients on the server itself (local_header_rewrite_clients):
 * From: <envelope sender>, bare, and To: undisclosed-recipients:;. So a To: of that form is never the
 * student's, and a From: is the server's only if it equals the envelope sender and ends the headers
 * (nothing after it but such a To:). A "message-id=<>" log line rules the server out altogether: it
 * would have added a Message-Id. Assumed: nobody types "To: undisclosed-recipients:;" or puts a From:
 * equal to MAIL FROM last while also writing a Message-Id from inside the container.
 */
export function studentFromTo(
  m: MessageFacts,
  envelope: string | undefined,
  untouched: boolean,
): { from: string; to: string } | undefined {
  if (m.to === undefined || m.from === undefined) return undefined;
  const sender = envelope ?? m.returnPath;
  const serverFrom = !untouched && m.fromEndsHeaders && m.from.trim().toLowerCase() === sender?.toLowerCase();
  return serverFrom ? undefined : { from: m.from.trim(), to: m.to.trim() };
}

export const DESCRIBE: Record<
  (typeof MESSAGE_EXERCISES)[number],
  (m: MessageFacts, q: QueueState) => string | undefined
> = {
  'smtp-subject': (m) => (m.subject?.trim() ? `en-tête Subject: ${m.subject.trim()}` : undefined),
  'smtp-attachment': (m) => {
    const part = m.attachments.find((a) => a.disposition === 'attachment');
    if (m.boundary === undefined || !part) return undefined;
    return `pièce jointe ${part.filename ?? '(sans nom)'} (${part.mimeType}) dans un message multi-parties, boundary "${m.boundary}"`;
  },
  'smtp-attachment-base64': (m) => {
    const part = m.attachments.find((a) => a.transferEncoding === 'base64' && a.size > 0);
    return part && `${part.filename ?? '(sans nom)'} (${part.mimeType}), ${part.size} octets décodés du base64`;
  },
  'smtp-headers-from-to': (m, q) => {
    const written = studentFromTo(m, q.from, q.noMessageId === true);
    return written && `From: ${written.from} et To: ${written.to} écrits dans le message`;
  },
};

/** A value the student typed, quoted in a hint: cut short, on one line. */
export function quote(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
}

/**
 * Near misses, from the same message: why it did not earn an exercise, in French, about what the student
 * did and never what to type. Undefined when the message has nothing to do with the exercise.
 */
export const NEAR_MISS: Record<
  (typeof MESSAGE_EXERCISES)[number],
  (m: MessageFacts, q: QueueState, queueId: string) => string | undefined
> = {
  'smtp-subject': (m, _q, id) => (m.subject?.trim() ? undefined : `votre message ${id} est arrivé sans sujet`),
  'smtp-attachment': (m, _q, id) =>
    m.boundary !== undefined && !m.attachments.some((a) => a.disposition === 'attachment')
      ? `votre message multi-parties ${id} n'a pas de partie marquée comme pièce jointe`
      : undefined,
  'smtp-attachment-base64': (m, _q, id) => {
    const part = m.attachments[0];
    if (!part || m.attachments.some((a) => a.transferEncoding === 'base64' && a.size > 0)) return undefined;
    const name = part.filename === undefined ? '' : ` « ${quote(part.filename)} »`;
    return `la pièce jointe${name} de votre message ${id} n'est pas du base64 qui se décode proprement`;
  },
  'smtp-headers-from-to': (m, q, id) => {
    if (studentFromTo(m, q.from, q.noMessageId === true)) return undefined;
    const sender = q.from ?? m.returnPath;
    const serverFrom =
      m.from === undefined ||
      (q.noMessageId !== true && m.fromEndsHeaders && m.from.trim().toLowerCase() === sender?.toLowerCase());
    const missing = [...(serverFrom ? ['From:'] : []), ...(m.to === undefined ? ['To:'] : [])];
    return `votre message ${id} n'a pas d'en-tête ${missing.join(' ni ')} écrit par vous (le serveur complète ceux qui manquent)`;
  },
};
