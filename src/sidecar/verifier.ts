import {
  GROUPS,
  type CompiledGroup,
  type CompiledLab,
  type CompiledRule,
  type GroupName,
} from '../core/lab-rules/compile.js';
import type { RuleContext } from '../core/lab-rules/conditions.js';
import { resolve } from '../core/lab-rules/template.js';
import { eventsOfLine, type LabEvent } from './lines.js';
import type { MessageFacts } from './message.js';
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

/** Hints are short: at most this many characters each, one per exercise. */
export const HINT_LIMIT = 240;
/** Values kept per list of a message (the accounts it was delivered to). */
const LIST_LIMIT = 10;

/**
 * What the trusted log (and, for a message, the archive) said so far about one message or session; dropped after
 * maxAgeMs or beyond maxQueueIds.
 */
interface GroupState {
  /** Clock time (ms) the sidecar first heard of it. */
  seenAt: number;
  /** Its events, by kind, in the order they came (the fields the rules read). */
  events: Record<string, Record<string, unknown>[]>;
  /** Postfix's copy, from the archive. */
  copy?: MessageFacts;
  /** The rules on messages have looked at it (it was complete, with its copy), and let the copy go. */
  checked?: boolean;
}

export interface VerifierOptions {
  /** The lab's evidence and exercises, compiled (src/core/lab-rules/compile.ts). */
  lab: CompiledLab;
  /** The student's mail domain (the card's), e.g. s01.td1.test. */
  cardDomain: string;
  /**
   * The accounts of the student's server. A failed login's name is quoted in a hint only when it is one of them:
   * anyone in the room can fail a login there, and their text would otherwise land on the student's page.
   */
  accounts?: readonly string[];
  /** The exercises to look for; others are not evaluated. Default: all of the lab's. */
  exercises?: readonly string[];
  /** The uids whose lines are believed (root and Postfix's). */
  trustedUids?: ReadonlySet<number>;
  now?: Clock;
  /** When progress was last reset (ISO), or null: only what happened after counts. */
  since?: () => string | null;
  /** Exercises already credited need nothing more. */
  isCredited?: (id: string) => boolean;
  /** Messages (and sessions) kept at most (oldest dropped first). */
  maxQueueIds?: number;
  /** Messages older than this (by the clock) are dropped. */
  maxAgeMs?: number;
}

export interface VerifierStats {
  /** Messages held, copies waiting included. */
  queueIds: number;
  /** Copies waiting for their log lines. */
  pendingMessages: number;
  /** Messages dropped for age or number. */
  dropped: number;
  /** Copies not received over SMTP (no queue id in the top Received:), ignored. */
  ignoredMessages: number;
}

/**
 * Turns the lines of the verification log and the copies of the archive, fed in any order and once each, into credits
 * and hints, by the rules of a lab. It keeps per-message state only while a credit may still come of it, within
 * bounds, and nothing about the exercises already credited. Call take() to collect what was earned since the last call.
 */
export class LabVerifier {
  /** The messages and sessions of the lab, by key. */
  private readonly groups = new Map<GroupName, Map<string, GroupState>>(GROUPS.map((g) => [g, new Map()]));
  private readonly messages = this.groups.get('message')!;
  private readonly found = new Map<string, Evidence>();
  /** One near miss per exercise not done (the latest). */
  private readonly nearMisses = new Map<string, string>();
  private hintsChanged = false;
  private readonly wanted: ReadonlySet<string>;
  private readonly ctx: RuleContext;
  private readonly rulesOn = new Map<string, CompiledRule[]>();
  private readonly now: Clock;
  private readonly maxQueueIds: number;
  private readonly maxAgeMs: number;
  private dropped = 0;
  private ignoredMessages = 0;

  constructor(private readonly options: VerifierOptions) {
    const lab = options.lab;
    this.wanted = new Set(options.exercises ?? lab.rules.map((r) => r.exercise));
    this.ctx = { cardDomain: options.cardDomain, accounts: new Set(options.accounts ?? []) };
    // Credits first: a line that earns an exercise gives no hint for it.
    for (const rule of [...lab.rules.filter((r) => !r.hint), ...lab.rules.filter((r) => r.hint)]) {
      const list = this.rulesOn.get(rule.on) ?? [];
      list.push(rule);
      this.rulesOn.set(rule.on, list);
    }
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
    for (const m of this.messages.values()) if (m.copy && !m.checked) pendingMessages++;
    return {
      queueIds: this.messages.size,
      pendingMessages,
      dropped: this.dropped,
      ignoredMessages: this.ignoredMessages,
    };
  }

  /** Drops the messages and sessions older than maxAgeMs, then the oldest beyond maxQueueIds. */
  prune(): void {
    const oldest = this.now().getTime() - this.maxAgeMs;
    for (const map of this.groups.values()) {
      for (const [key, m] of map) {
        if (m.seenAt >= oldest && map.size <= this.maxQueueIds) break;
        map.delete(key);
        this.dropped++;
      }
    }
  }

  /** A line of the verification log: each of its events, as the lab's line patterns read it. */
  addLine(line: string): void {
    for (const event of eventsOfLine(line, this.options.lab, this.ctx, this.options.trustedUids)) this.addEvent(event);
  }

  addEvent(e: LabEvent): void {
    const time = String(e.fields.time);
    if (!this.counts(time)) return;
    const joined: { group: CompiledGroup; key: string; state: GroupState }[] = [];
    for (const group of this.options.lab.groups) {
      const key = this.reads(group.name) ? keyOf(e.fields, group.key) : undefined;
      if (key === undefined) continue;
      const map = this.groups.get(group.name)!;
      // Only the events the rules read through `message.` or `session.` are kept, as many and as much as they read.
      const keep = group.keeps.get(e.name);
      let state: GroupState | undefined;
      if (group.opens === e.name) {
        map.delete(key);
        state = this.entry(map, key);
      } else state = keep && !group.opens ? this.entry(map, key) : map.get(key);
      if (!state) continue;
      const kept = state.events[e.name] ?? [];
      if (keep && kept.length < keep.count) {
        // A new array of the exact length: an array grown by push() holds room for 16 more.
        state.events[e.name] = [...kept, keep.fields === 'all' ? e.fields : slim(e.fields, keep.fields)];
      }
      joined.push({ group, key, state });
    }
    const rules = this.rulesOn.get(e.name);
    if (rules) {
      const scope: Record<string, unknown> = { ...e.fields };
      for (const j of joined) scope[j.group.name] = this.view(j.group, j.key, j.state);
      for (const rule of rules) {
        if (this.done(rule.exercise) || !rule.where(scope, this.ctx)) continue;
        if (rule.hint) this.hint(rule.exercise, rule.say.render(scope));
        else this.credit(rule.exercise, { at: this.timeOf(rule, scope) ?? time, evidence: rule.say.render(scope) });
      }
    }
    for (const j of joined) if (j.group.name === 'message') this.lookAt(j.group, j.key, j.state);
  }

  /** A copy from the archive. Only one that our smtpd received (see receivedQueueId) can count. */
  addMessage(m: MessageFacts): void {
    const group = this.options.lab.groups.find((g) => g.name === 'message');
    if (m.queueId === undefined || !group) {
      this.ignoredMessages++;
      return;
    }
    if ((this.rulesOn.get('message') ?? []).every((r) => this.done(r.exercise))) return;
    const message = this.entry(this.messages, m.queueId);
    if (message.copy || message.checked) return;
    message.copy = m;
    this.lookAt(group, m.queueId, message);
  }

  /** The rules on messages, once: when the message is complete and has its copy. Then the copy is let go. */
  private lookAt(group: CompiledGroup, key: string, message: GroupState): void {
    const rules = this.rulesOn.get('message');
    if (!rules || !message.copy || message.checked) return;
    const view = this.view(group, key, message);
    if (!group.complete.every((name) => view[name] !== undefined)) return;
    message.checked = true;
    delete message.copy;
    for (const rule of rules) {
      if (this.done(rule.exercise)) continue;
      const scope: Record<string, unknown> = { [group.key]: key, message: view };
      let holds = true;
      if (rule.part) {
        const part = (view.copy as { attachments: unknown[] }).attachments.find((a) => rule.part!(a, this.ctx));
        if (part === undefined) holds = false;
        else scope.part = part;
      }
      if (!holds || !rule.where(scope, this.ctx)) continue;
      if (rule.hint) this.hint(rule.exercise, rule.say.render(scope));
      else this.credit(rule.exercise, { at: this.timeOf(rule, scope) ?? null, evidence: rule.say.render(scope) });
    }
  }

  /**
   * A message or a session as the rules read it: its key and the first event of each kind (after the last reset);
   * a message also its copy, the From: and To: headers the client wrote, whether it came untouched, and its lists.
   */
  private view(group: CompiledGroup, key: string, state: GroupState): Record<string, unknown> {
    const view: Record<string, unknown> = { [group.key]: key };
    const events = new Map<string, Record<string, unknown>[]>();
    for (const [name, list] of Object.entries(state.events)) {
      const counted = list.filter((f) => this.counts(String(f.time)));
      events.set(name, counted);
      if (counted[0]) view[name] = counted[0];
    }
    if (group.name !== 'message') return view;
    for (const list of group.lists) {
      const values: string[] = [];
      for (const f of events.get(list.on) ?? []) {
        const value = list.value.render(f);
        if (value !== '' && !values.includes(value) && values.length < LIST_LIMIT) values.push(value);
      }
      view[list.name] = values;
    }
    const untouched = group.untouched;
    view.untouched = untouched ? (events.get(untouched.on) ?? []).some((f) => untouched.where(f, this.ctx)) : false;
    const copy = state.copy;
    if (copy) {
      view.copy = {
        ...copy,
        attachments: copy.attachments.map((a) => ({
          filename: a.filename,
          type: a.mimeType,
          disposition: a.disposition,
          encoding: a.transferEncoding,
          size: a.size,
        })),
      };
      const sender = group.sender ? (group.sender.value?.(view) ?? group.sender.render(view)) : undefined;
      view.written = writtenHeaders(copy, typeof sender === 'string' ? sender : undefined, view.untouched === true);
    }
    return view;
  }

  /** Whether an exercise still to earn has a rule that reads this group: else none is kept. */
  private reads(group: GroupName): boolean {
    return this.options.lab.rules.some((r) => r.reads.includes(group) && !this.done(r.exercise));
  }

  /** The time of the event a rule's `at` names. */
  private timeOf(rule: CompiledRule, scope: unknown): string | undefined {
    if (rule.at === undefined) return undefined;
    const at = resolve(scope, rule.at);
    const time = at !== null && typeof at === 'object' ? (at as { time?: unknown }).time : at;
    return typeof time === 'string' ? time : undefined;
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

  /** Keeps the latest near miss of an exercise not done. */
  private hint(id: string, text: string): void {
    if (this.done(id)) return;
    const short = text.length > HINT_LIMIT ? `${text.slice(0, HINT_LIMIT - 1)}…` : text;
    if (this.nearMisses.get(id) === short) return;
    this.nearMisses.set(id, short);
    this.hintsChanged = true;
  }

  private entry(map: Map<string, GroupState>, key: string): GroupState {
    let m = map.get(key);
    if (!m) {
      m = { seenAt: this.now().getTime(), events: {} };
      map.set(key, m);
      if (map.size > this.maxQueueIds) this.prune();
    }
    return m;
  }
}

/** The key of a group an event belongs to: its field (queueId, pid), as text. */
function keyOf(fields: Record<string, unknown>, key: string): string | undefined {
  const value = fields[key];
  return (typeof value === 'string' && value !== '') || typeof value === 'number' ? String(value) : undefined;
}

/** The fields of an event a message keeps, copied (a field cut out of a log line would hold the whole line). */
function slim(fields: Record<string, unknown>, keep: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of keep) {
    const value = fields[name];
    if (value !== undefined) out[name] = typeof value === 'string' ? ` ${value}`.slice(1) : value;
  }
  return out;
}

/**
 * The From: and To: headers the client wrote, from Postfix's copy. Postfix's cleanup adds missing Message-Id, Date,
 * From and To headers, in that order after the last header of the message, but only for clients on the server itself
 * (local_header_rewrite_clients): From: <envelope sender>, bare, and To: undisclosed-recipients:;. So a To: of that
 * form is never the client's (the copy leaves it out), and a From: is the server's only if it equals the envelope
 * sender and ends the headers (nothing after it but such a To:). A message that came untouched (cleanup logged
 * "message-id=<>": it would have added one) has no header of the server's. Assumed: nobody types
 * "To: undisclosed-recipients:;" or puts a From: equal to MAIL FROM last while also writing a Message-Id from inside
 * the container.
 */
export function writtenHeaders(
  m: MessageFacts,
  sender: string | undefined,
  untouched: boolean,
): { from?: string; to?: string } {
  const envelope = sender ?? m.returnPath;
  const serverFrom =
    m.from !== undefined && !untouched && m.fromEndsHeaders && m.from.trim().toLowerCase() === envelope?.toLowerCase();
  return {
    ...(m.from !== undefined && !serverFrom && { from: m.from.trim() }),
    ...(m.to !== undefined && { to: m.to.trim() }),
  };
}
