import { classInfo } from '../core/class-model.js';
import { withClassLock } from '../core/class-lock.js';
import { classUp, dryRun, interruptedError, type ClassUpInput } from '../core/class-up.js';
import { loadLab, type PasswordPolicy } from '../core/lab.js';
import { LABEL } from '../core/labels.js';
import type { Plan } from '../core/plan.js';
import { DEFAULT_BASE_PORT } from '../core/ports.js';
import { formatDiff } from '../core/reconcile.js';
import type { EngineKind } from '../docker/select-engine.js';
import { formatPlan, studentTable } from '../ui/tables.js';
import { DEFAULT_CLASS, defaultContext, defaultHost, type Context } from './context.js';

export interface UpOptions {
  students: number;
  className?: string;
  lab?: string;
  basePort?: number;
  host?: string;
  bind?: string;
  dryRun?: boolean;
  json?: boolean;
  prune?: boolean;
  timeout?: number;
  /** lab: the lab's password everywhere; random: each student's own. Default: what the class has, else lab. */
  passwords?: PasswordPolicy;
  /** local (default) or swarm: see src/docker/select-engine.ts. */
  engine?: EngineKind;
  /** Swarm placement constraints for new students. */
  constraints?: string[];
  /** On Swarm: the registry the nodes pull the images from (see `build --push`). */
  registry?: string;
}

export async function up(options: UpOptions, ctx: Context = defaultContext(options)): Promise<Plan> {
  const { engine, reporter } = ctx;
  const className = options.className ?? DEFAULT_CLASS;
  const input: ClassUpInput = {
    lab: await loadLab(options.lab),
    className,
    students: options.students,
    basePort: options.basePort ?? DEFAULT_BASE_PORT,
    host: options.host ?? defaultHost(),
    bind: options.bind ?? '0.0.0.0',
    prune: options.prune,
    timeoutSeconds: options.timeout,
    passwords: options.passwords,
  };
  if (options.dryRun) {
    const { plan, diff, engine: seen } = await dryRun(input, engine);
    const against = seen
      ? `Against what runs on ${engine.where}:`
      : `No engine answers at ${engine.where}: the plan of a new class.`;
    reporter.result(`${formatPlan(plan)}\n${against}\n${formatDiff(diff, plan)}\nNothing was changed (--dry-run).`, {
      plan,
      diff,
    });
    return plan;
  }
  // One `up` of a class at a time, from any shell or host: a second one waits for the first (src/core/class-lock.ts).
  await engine.ping();
  const { plan } = await withClassLock(engine, className, () => run(input, ctx), {
    onWait: (message) => reporter.info(message),
    handleSigint: true,
  });
  const info = await classInfo(className, engine);
  reporter.result(
    `Class ${className} is up: ${plan.students.length} student${plan.students.length > 1 ? 's' : ''}, lab ${plan.lab.name}, students connect to ${plan.host}.\n${studentTable(info.students)}\nCards: labctl info --class ${className}`,
    info,
  );
  if (plan.students[0]?.containers[0]?.labels[LABEL.passwords] === 'lab')
    reporter.warn(
      `Passwords: the TD's ${input.lab.accounts[0]?.password ?? ''} on every server — any student can log in to a classmate's server; use --passwords random for a graded session.`,
    );
  return plan;
}

/** Ctrl-C while the class comes up undoes what the run changed; once every student answers, it no longer does. */
async function run(input: ClassUpInput, ctx: Context) {
  const stop = new AbortController();
  const onSigint = () => {
    if (!stop.signal.aborted) {
      ctx.reporter.info('Interrupted: stopping, then undoing what this run changed...');
      stop.abort(interruptedError(input.className));
    } else ctx.reporter.info('Still undoing what this run changed; please wait.');
  };
  process.on('SIGINT', onSigint);
  try {
    return await classUp(input, ctx.engine, ctx.reporter, stop.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
