import { ARCHIVE } from '../core/limits.js';
import { accountOf, isInsideLab, isSpoofedSender, splitAddress } from './address.js';
import type { Delivery, LogEvent, MailService } from './events.js';
import { type MessageFacts } from './message.js';
import { DESCRIBE, MESSAGE_EXERCISES, NEAR_MISS, quote, type QueueState } from './message-rules.js';
import type { Clock } from './parse-log.js';

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

/** The address Postfix's always_bcc sends the archive copy to; its delivery (by virtual) proves nothing. */
export const ARCHIVE_ADDRESS = ARCHIVE.address;

/** Every exercise this file knows, in the lab's order. */
export const EXERCISE_IDS = [
  'smtp-simple',
  'smtp-subject',
  'smtp-two-recipients',
  'smtp-attachment',
  'smtp-attachment-base64',
  'smtp-headers-from-to',
  'smtp-spoofed-sender',
  'smtp-external',
  'pop-login',
  'pop-retr',
  'imap-login',
  'imap-fetch',
] as const;

/** Hints are short: at most this many characters each, one per exercise. */
export const HINT_LIMIT = 240;

export interface VerifierOptions {
  /** The student's mail domain (the card's), e.g. s01.td1.test. */
  cardDomain: string;
  /**
   * The accounts of the student's server. A failed login's name is quoted in a hint only when it is one of them:
   * anyone in the room can fail a login there, and their text would otherwise land on the student's page.
   */
  accounts?: readonly string[];
  /** The exercises to look for; others are not evaluated. Default: all. */
  exercises?: readonly string[];
  now?: Clock;
  /** When progress was last reset (ISO), or null: only what happened after counts. */
  since?: () => string | null;
  /** Exercises already credited need nothing more. */
  isCredited?: (id: string) => boolean;
  /** Queue ids kept at most (oldest dropped first). */
  maxQueueIds?: number;
  /** Queue ids older than this (by the clock) are dropped. */
  maxAgeMs?: number;
}

export interface VerifierStats {
  /** Queue ids held, archived copies waiting included. */
  queueIds: number;
  /** Archived copies waiting for their log lines. */
  pendingMessages: number;
  /** Queue ids dropped for age or number. */
  dropped: number;
  /** Archived copies not received over SMTP (no queue id in the top Received:), ignored. */
  ignoredMessages: number;
}

/**
 * Turns trusted events and archived messages, fed in any order and once each, into credits. It keeps
 * per-queue-id state only while a credit may still come of it, within bounds, and nothing about the exercises
 * already credited. Call take() to collect what was earned since the last call.
 */
export class Verifier {
  private readonly queue = new Map<string, QueueState>();
  private readonly found = new Map<string, Evidence>();
  /** One near miss per exercise not done (the latest), at most one per exercise of the lab. */
  private readonly nearMisses = new Map<string, string>();
  private hintsChanged = false;
  private readonly wanted: ReadonlySet<string>;
  private readonly accounts: ReadonlySet<string>;
  private readonly now: Clock;
  private readonly maxQueueIds: number;
  private readonly maxAgeMs: number;
  private dropped = 0;
  private ignoredMessages = 0;

  constructor(private readonly options: VerifierOptions) {
    this.wanted = new Set(options.exercises ?? EXERCISE_IDS);
    this.accounts = new Set(options.accounts ?? []);
    this.now = options.now ?? (() => new Date());
    this.maxQueueIds = options.maxQueueIds ?? 5000;
    this.maxAgeMs = options.maxAgeMs ?? 3600_000;
  }

  /** Credits found since the last take(), in the order they were found. */
  take(): Result[] {
    const out = [...this.found].map(([id, e]) => ({ id, done: true, at: e.at, evidence: e.evidence }));
    this.found.clear();
    return out;
  }

  /** The latest near miss of each exercise not done, in French. */
  hints(): ReadonlyMap<string, string> {
    return this.nearMisses;
  }

  /** Whether a hint came, changed or went since the last call. */
  takeHintsChanged(): boolean {
    const changed = this.hintsChanged;
    this.hintsChanged = false;
    return changed;
  }

  /** Forgets every hint (after a progress reset: what happened before no longer counts). */
  clearHints(): void {
    this.hintsChanged ||= this.nearMisses.size > 0;
    this.nearMisses.clear();
  }

  /** The credit found (and not yet taken) for an exercise. */
  peek(id: string): Evidence | undefined {
    return this.found.get(id);
  }

  stats(): VerifierStats {
    let pendingMessages = 0;
    for (const q of this.queue.values()) if (q.message) pendingMessages++;
    return { queueIds: this.queue.size, pendingMessages, dropped: this.dropped, ignoredMessages: this.ignoredMessages };
  }

  /** Drops the queue ids older than maxAgeMs, then the oldest beyond maxQueueIds. */
  prune(): void {
    const oldest = this.now().getTime() - this.maxAgeMs;
    for (const [id, q] of this.queue) {
      if (q.seenAt >= oldest && this.queue.size <= this.maxQueueIds) break;
      this.queue.delete(id);
      this.dropped++;
    }
  }

  addEvent(e: LogEvent): void {
    switch (e.type) {
      case 'smtp-client': {
        const q = this.entry(e.queueId);
        q.clientAt ??= e.time;
        return this.settle(e.queueId, q);
      }
      case 'message-id':
        this.entry(e.queueId).noMessageId = e.messageId === '';
        return;
      case 'queued': {
        const q = this.entry(e.queueId);
        q.from ??= e.from;
        if (q.clientAt === undefined || !this.counts(q.clientAt)) return;
        if (isSpoofedSender(e.from, this.options.cardDomain)) {
          this.credit('smtp-spoofed-sender', {
            at: e.time,
            evidence: `message ${e.queueId} : l'expéditeur d'enveloppe ${e.from} est hors du labo`,
          });
        } else if (e.from !== '' && !isInsideLab(e.from, this.options.cardDomain)) {
          this.hint(
            'smtp-spoofed-sender',
            `l'expéditeur d'enveloppe « ${quote(e.from)} » de votre message ${e.queueId} n'est pas une adresse d'un vrai domaine extérieur`,
          );
        }
        return;
      }
      case 'delivery':
        return this.delivery(e);
      case 'reject':
        if (e.recipient === undefined || !this.counts(e.time)) return;
        if (this.outside(e.recipient)) {
          this.credit('smtp-external', {
            at: e.time,
            evidence: `${e.stage} vers ${e.recipient} refusé : ${e.code} ${e.reason}`,
          });
        } else {
          this.hint(
            'smtp-simple',
            `le serveur a refusé le destinataire « ${quote(e.recipient)} » : ${e.code} ${e.reason.slice(0, 100)}`,
          );
        }
        return;
      case 'smtp-disconnect': {
        const typed = ['helo', 'ehlo', 'mail', 'rcpt'].some((k) => (e.counts[k] ?? 0) > 0);
        if (!typed || (e.counts.data ?? 0) > 0 || !this.counts(e.time)) return;
        const said = Object.entries(e.counts)
          .filter(([k]) => k !== 'commands')
          .map(([k, n]) => `${k}=${n}`)
          .join(' ');
        return this.hint('smtp-simple', `votre session SMTP s'est terminée sans message accepté (${said})`);
      }
      case 'login-failed': {
        if (!this.counts(e.time)) return;
        const service = e.service.toUpperCase();
        const id = e.service === 'pop3' ? 'pop-login' : 'imap-login';
        if (e.user === undefined || this.accounts.has(e.user)) {
          const who = e.user === undefined ? '' : ` de « ${e.user} »`;
          return this.hint(id, `une connexion ${service}${who} a échoué : identifiant ou mot de passe refusé`);
        }
        return this.hint(id, `une connexion ${service} a échoué : identifiant inconnu sur ce serveur`);
      }
      case 'login':
        if (this.counts(e.time)) {
          this.credit(e.service === 'pop3' ? 'pop-login' : 'imap-login', {
            at: e.time,
            evidence: `${e.user} connecté en ${e.service.toUpperCase()} depuis ${e.ip ?? 'une adresse inconnue'}`,
          });
        }
        return;
      case 'logout':
        return this.logout(e.service, e.counts, e.user, e.time);
      default:
        return;
    }
  }

  /** An archived copy of a message. Only one that our smtpd received (see receivedQueueId) can count. */
  addMessage(m: MessageFacts): void {
    if (m.queueId === undefined) {
      this.ignoredMessages++;
      return;
    }
    if (MESSAGE_EXERCISES.every((id) => this.done(id))) return;
    const q = this.entry(m.queueId);
    if (q.messageChecked || q.message) return;
    q.message = m;
    this.settle(m.queueId, q);
  }

  private logout(service: MailService, counts: Record<string, number>, user: string | undefined, time: string): void {
    const [id, count, what] =
      service === 'pop3'
        ? (['pop-retr', 'retr', 'a lu des messages avec RETR'] as const)
        : (['imap-fetch', 'body', 'a lu des corps de messages'] as const);
    if (!this.counts(time)) return;
    if ((counts[count] ?? 0) > 0) {
      this.credit(id, {
        at: time,
        evidence: `${user ?? 'une session'} ${what} : ${count}=${counts[count]} à la déconnexion ${service.toUpperCase()}`,
      });
    } else if (user !== undefined) {
      this.hint(
        id,
        service === 'pop3'
          ? `votre session POP3 (${quote(user)}) s'est terminée sans qu'aucun message soit lu`
          : `votre session IMAP (${quote(user)}) s'est terminée sans qu'aucun corps de message soit lu`,
      );
    }
  }

  private delivery(d: Delivery): void {
    // The archive copy (always_bcc, delivered by virtual) proves nothing about what the student sent.
    if (d.transport === 'virtual' || [d.to, d.origTo].some((a) => a?.toLowerCase() === ARCHIVE_ADDRESS)) return;
    const q = this.queue.get(d.queueId);
    if (d.transport === 'local' && d.status === 'sent' && isInsideLab(d.to, this.options.cardDomain)) {
      const known = q ?? this.entry(d.queueId);
      known.delivered ??= { at: d.time, to: d.to };
      const account = accountOf(d.origTo ?? d.to);
      if (account !== '' && !known.accounts.includes(account) && known.accounts.length < 10) {
        known.accounts.push(account);
      }
      return this.settle(d.queueId, known, d);
    }
    // An attempt outside: anything but the bounce notice (from=<>) sent back to a forged sender.
    if (q?.from !== undefined && q.from !== '' && this.outside(d.to) && this.counts(d.time)) {
      this.credit('smtp-external', {
        at: d.time,
        evidence: `message ${d.queueId} vers ${d.to} : status=${d.status} (${d.detail})`,
      });
    }
  }

  /** Credits what a queue id proves once it came in over SMTP (after the last reset) and was delivered. */
  private settle(queueId: string, q: QueueState, d?: Delivery): void {
    if (q.clientAt === undefined || !this.counts(q.clientAt) || !q.delivered) return;
    this.credit('smtp-simple', {
      at: q.delivered.at,
      evidence: `message ${queueId} reçu par SMTP, distribué à ${q.delivered.to}`,
    });
    if (d && q.accounts.length >= 2) {
      this.credit('smtp-two-recipients', {
        at: d.time,
        evidence: `message ${queueId} distribué à ${q.accounts.join(', ')} en une seule transaction SMTP`,
      });
    } else if (d && q.accounts.length === 1) {
      this.hint('smtp-two-recipients', `votre message ${queueId} n'est arrivé qu'à un seul compte (${q.accounts[0]})`);
    }
    const m = q.message;
    if (!m) return;
    for (const id of MESSAGE_EXERCISES) {
      if (this.done(id)) continue;
      const text = DESCRIBE[id](m, q);
      if (text !== undefined) {
        this.credit(id, {
          at: q.delivered.at,
          evidence: `message ${queueId} (${accountOf(q.delivered.to)}) : ${text}`,
        });
      } else {
        const miss = NEAR_MISS[id](m, q, queueId);
        if (miss !== undefined) this.hint(id, miss);
      }
    }
    delete q.message;
    q.messageChecked = true;
  }

  private outside(address: string): boolean {
    return (
      splitAddress(address) !== undefined &&
      address.toLowerCase() !== ARCHIVE_ADDRESS &&
      !isInsideLab(address, this.options.cardDomain)
    );
  }

  private counts(time: string): boolean {
    const since = this.options.since?.() ?? null;
    return since === null || time > since;
  }

  private done(id: string): boolean {
    return !this.wanted.has(id) || this.found.has(id) || this.options.isCredited?.(id) === true;
  }

  private credit(id: string, evidence: Evidence): void {
    if (this.done(id)) return;
    this.found.set(id, evidence);
    if (this.nearMisses.delete(id)) this.hintsChanged = true;
  }

  /** Keeps the latest near miss of an exercise not done; the exercise's own hint replaces the previous one. */
  private hint(id: string, text: string): void {
    if (this.done(id)) return;
    const short = text.length > HINT_LIMIT ? `${text.slice(0, HINT_LIMIT - 1)}…` : text;
    if (this.nearMisses.get(id) === short) return;
    this.nearMisses.set(id, short);
    this.hintsChanged = true;
  }

  private entry(queueId: string): QueueState {
    let q = this.queue.get(queueId);
    if (!q) {
      q = { seenAt: this.now().getTime(), accounts: [] };
      this.queue.set(queueId, q);
      if (this.queue.size > this.maxQueueIds) this.prune();
    }
    return q;
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
export function evaluate(input: CheckInput, exerciseIds: string[]): Result[] {
  const verifier = new Verifier({ cardDomain: input.labDomains[0] ?? '', exercises: exerciseIds });
  for (const m of input.messages) verifier.addMessage(m);
  for (const e of input.events) verifier.addEvent(e);
  return exerciseIds.map((id) => {
    const found = verifier.peek(id);
    return { id, done: found !== undefined, at: found?.at ?? null, evidence: found?.evidence ?? null };
  });
}
