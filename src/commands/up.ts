import { connectText, infoOf } from '../core/class-model.js';
import { nodeLostError } from '../core/class-status.js';
import { observeClass } from '../core/observed-class.js';
import { checkTimeBox } from '../core/class-session.js';
import { dryRun, upClass, type ClassUpInput } from '../core/class-up.js';
import { loadLab, type PasswordPolicy } from '../core/lab.js';
import type { Plan } from '../core/plan.js';
import { ExitCode, LabctlError } from '../errors.js';
import { DEFAULT_BASE_PORT } from '../core/ports.js';
import { sessionSummary } from '../ui/session.js';
import { formatDiff } from '../core/reconcile.js';
import type { EngineKind } from '../docker/select-engine.js';
import { formatPlan, studentTable } from '../ui/tables.js';
import { DEFAULT_CLASS, defaultContext, defaultHost, type Context, type RunOptions } from './context.js';

export interface UpOptions extends RunOptions {
  students: number;
  className?: string;
  lab?: string;
  basePort?: number;
  host?: string;
  bind?: string;
  dryRun?: boolean;
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
  /** A graded session's time box: its end (16:00) or its length (2h), for a class that has none yet. */
  until?: string;
  for?: string;
  /** On Swarm: students whose node is down or gone start again on other nodes (from their snapshot, if any). */
  replaceLost?: boolean;
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
    replaceLost: options.replaceLost,
    timeBox: {
      ...(options.until !== undefined && { until: options.until }),
      ...(options.for !== undefined && { for: options.for }),
    },
  };
  // A wrong time box stops `up` before anything, a dry run too.
  checkTimeBox(input.timeBox ?? {});
  if (options.dryRun) {
    const { plan, diff, engine: seen, observed } = await dryRun(input, engine);
    const numbers = plan.students.map((s) => s.student);
    const connect = connectText(observed, numbers, plan.host, engine.placesOnNodes);
    const against = seen
      ? `Against what runs on ${engine.where}:`
      : `No engine answers at ${engine.where}: the plan of a new class.`;
    reporter.result(
      `${formatPlan(plan, connect)}\n${against}\n${formatDiff(diff, plan)}\nNothing was changed (--dry-run).`,
      {
        plan,
        diff,
      },
    );
    return plan;
  }
  await engine.ping();
  const said = () => reporter.info('Interrupted: stopping, then undoing what this run changed...');
  ctx.signal.addEventListener('abort', said, { once: true });
  const { plan, session, lost, replaced } = await upClass(input, engine, reporter, ctx.signal).finally(() =>
    ctx.signal.removeEventListener('abort', said),
  );
  const observed = await observeClass(engine, className);
  const info = infoOf(observed);
  const connect = connectText(
    observed,
    plan.students.map((s) => s.student),
    plan.host,
    engine.placesOnNodes,
  );
  const box = session ? `\n${sessionSummary(session)}` : '';
  const moved = replaced.map((r) => {
    const now = observed.students.find((x) => x.student === r.student)?.nodeName ?? '?';
    const what = r.problem
      ? `empty: their snapshot could not be restored (${r.problem})`
      : r.snapshot
        ? `restored from their snapshot of ${r.snapshot}`
        : 'empty (no snapshot)';
    return `\n  student ${r.student}: ${r.from} -> ${now}, mailboxes ${what}`;
  });
  reporter.result(
    `Class ${className} is up: ${plan.students.length} student${plan.students.length > 1 ? 's' : ''}, lab ${plan.lab.name}, ${connect}.\n${studentTable(info.students)}\nCards: labctl info --class ${className}${box}${moved.length > 0 ? `\nReplaced on other nodes:${moved.join('')}` : ''}`,
    { ...info, ...(session && { session }), ...(replaced.length > 0 && { replaced }) },
  );
  if (observed.students[0]?.passwords === 'lab')
    reporter.warn(
      `Passwords: the TD's ${input.lab.accounts[0]?.password ?? ''} on every server — any student can log in to a classmate's server; use --passwords random for a graded session.`,
    );
  if (lost.length > 0)
    throw nodeLostError(
      lost,
      'Start the node again: its students come back with their mail (then `labctl status`). If it is gone for good, `labctl up --replace-lost` starts them on other nodes. See "When a node is lost" in the README.',
    );
  const unrestored = replaced.filter((r) => r.problem);
  if (unrestored.length > 0) {
    throw new LabctlError(
      ExitCode.engine,
      unrestored
        .map((r) => `Student ${r.student} runs again, but their snapshot could not be restored: ${r.problem}`)
        .join('\n'),
      'Their snapshot stays on the manager: see `docker volume ls --filter label=dev.labctl.role=snapshot`.',
    );
  }
  return plan;
}
