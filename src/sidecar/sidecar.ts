import { EventEmitter } from 'node:events';
import { evaluate } from './checks.js';
import type { SidecarConfig } from './config.js';
import type { LogEvent } from './events.js';
import { ProgressStore } from './progress.js';
import { LogTail, MaildirScanner, type DeliveredMessage } from './sources.js';

export interface ExerciseStatus {
  id: string;
  title: string;
  done: boolean;
  at: string | null;
  evidence: string | null;
}

export interface Progress {
  class: string;
  student: number;
  lab: string;
  title: string;
  done: number;
  total: number;
  exercises: ExerciseStatus[];
}

/** Watches one student's mail server and keeps their credits; emits 'change' when one is earned. */
export class Sidecar extends EventEmitter {
  private readonly events: LogEvent[] = [];
  private readonly messages: DeliveredMessage[] = [];
  private readonly log: LogTail;
  private readonly maildirs: MaildirScanner;
  readonly store: ProgressStore;

  constructor(readonly config: SidecarConfig) {
    super();
    this.log = new LogTail(config.logFile);
    this.maildirs = new MaildirScanner(config.homeDir);
    this.store = new ProgressStore(config.stateFile);
  }

  /** Reads what is new in the log and the Maildirs, and credits what it proves. */
  async poll(): Promise<void> {
    const [events, messages] = await Promise.all([this.log.read(), this.maildirs.read()]);
    if (events.length === 0 && messages.length === 0) return;
    this.events.push(...events);
    this.messages.push(...messages);
    const since = this.store.resetAt;
    const input = {
      events: since ? this.events.filter((e) => e.time > since) : this.events,
      messages: this.messages.filter((m) => !since || m.deliveredAt > since).map((m) => m.message),
      labDomains: [this.config.card.domain],
    };
    const results = evaluate(
      input,
      this.config.exercises.map((e) => e.id),
    );
    if (await this.store.merge(results)) this.emit('change');
  }

  async resetProgress(): Promise<void> {
    await this.store.clear();
    this.emit('change');
  }

  progress(): Progress {
    const exercises = this.config.exercises.map((e) => {
      const credit = this.store.get(e.id);
      return {
        id: e.id,
        title: e.title,
        done: Boolean(credit),
        at: credit?.at ?? null,
        evidence: credit?.evidence ?? null,
      };
    });
    return {
      class: this.config.card.className,
      student: this.config.card.student,
      lab: this.config.labName,
      title: this.config.labTitle,
      done: exercises.filter((e) => e.done).length,
      total: exercises.length,
      exercises,
    };
  }
}
