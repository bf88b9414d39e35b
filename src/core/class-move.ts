import type { Engine, EngineNode } from '../docker/engine.js';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { waitStudentReady } from './apply.js';
import { planOf } from './class-sleep.js';
import type { ObservedClass, ObservedStudent } from './observed-class.js';

/**
 * `labctl move`: students carried to another Swarm node with everything their volumes hold, one at a time. Each is
 * stopped during the copy (their mailbox holds still), then started on the new node; the old node's copies are
 * removed only once the student answers there. A move that fails leaves the student on their node, as they were.
 */

export interface MoveOptions {
  /** Only this student (else every student on `from`). */
  student?: number;
  /** The node whose students move (its name or id). */
  from?: string;
  /** Where they go; else, for each, the ready and active node with the fewest students. */
  to?: string;
  timeoutSeconds: number;
  signal: AbortSignal;
  onMoved?: (row: MoveRow) => void;
}

export interface MoveRow {
  student: number;
  from: string;
  to: string;
  moved: boolean;
  seconds: number;
  /** Volume data carried. */
  bytes?: number;
  /** Why it did not move, or what stayed behind (the old copies, when they could not be removed). */
  problem?: string;
  /** The error code of why it did not move (`placement`: the node does not meet the class's constraints). */
  code?: string;
}

export interface MoveResult {
  class: string;
  students: MoveRow[];
  seconds: number;
}

/** A node named by the instructor: by name, id, or an unambiguous start of its id. */
function findNode(nodes: EngineNode[], name: string, flag: string): EngineNode {
  const found =
    nodes.find((n) => n.name === name || n.id === name) ??
    (name.length >= 6 ? nodes.filter((n) => n.id.startsWith(name)) : []).find((_, i, all) => all.length === 1);
  if (!found) {
    throw usageError(
      `${flag} ${name}: no such node in the swarm.`,
      `Its nodes: ${nodes.map((n) => `${n.name} (${n.state}, ${n.availability})`).join(', ')}.`,
    );
  }
  return found;
}

/** A node students can go to: ready and active. */
function checkTarget(node: EngineNode): void {
  if (node.state === 'ready' && node.availability === 'active') return;
  const why =
    node.state !== 'ready' ? `is ${node.state}` : `is ${node.availability === 'drain' ? 'drained' : node.availability}`;
  throw new LabctlError(
    ExitCode.engine,
    `Node ${node.name} ${why}: no student can move there.`,
    'Choose a ready and active node (`docker node ls`).',
    'node-unavailable',
  );
}

/** The ready, active nodes other than `from`, the fewest students first (ties to the lowest name). */
function byLoad(nodes: EngineNode[], from: string): EngineNode[] {
  const eligible = nodes.filter((n) => n.name !== from && n.state === 'ready' && n.availability === 'active');
  if (eligible.length === 0) {
    throw new LabctlError(
      ExitCode.engine,
      `No other node is ready and active to take the students of ${from}.`,
      'See `docker node ls`.',
      'node-unavailable',
    );
  }
  return eligible.sort((a, b) => a.students - b.students || a.name.localeCompare(b.name));
}

/** The students to move, as asked: one, or all of a node's. Checks what can be checked before anything moves. */
function chosen(observed: ObservedClass, nodes: EngineNode[], options: MoveOptions): ObservedStudent[] {
  const from = options.from === undefined ? undefined : findNode(nodes, options.from, '--from');
  const to = options.to === undefined ? undefined : findNode(nodes, options.to, '--to');
  if (to) checkTarget(to);
  if (from && to && from.id === to.id) throw usageError(`--from and --to name the same node, ${to.name}.`);
  if (options.student !== undefined) {
    const s = observed.students.find((x) => x.student === options.student);
    if (!s) throw usageError(`Class ${observed.className} has no student ${options.student}.`);
    if (from && s.nodeName !== from.name)
      throw usageError(`Student ${s.student} is on node ${s.nodeName ?? '?'}, not on ${from.name}.`);
    if (to && s.nodeName === to.name) throw usageError(`Student ${s.student} is on node ${to.name} already.`);
    return [s];
  }
  if (!from) throw usageError('Say who moves: --student N, or --from NODE for every student on a node.');
  return observed.students.filter((s) => s.nodeName === from.name);
}

/** Moves the students asked for, one at a time; a student that could not move is reported, the others go on. */
export async function moveStudents(engine: Engine, observed: ObservedClass, options: MoveOptions): Promise<MoveResult> {
  const started = Date.now();
  const nodes = await engine.nodes();
  if (!nodes) {
    throw usageError(
      `Class ${observed.className} runs on one Docker engine (${engine.where}): there is no other node to move a student to.`,
      '`labctl move` carries students between the nodes of a Docker Swarm (`up --engine swarm`).',
    );
  }
  const students = chosen(observed, nodes, options);
  const plan = await planOf(observed);
  const rows: MoveRow[] = [];
  for (const s of students) {
    options.signal.throwIfAborted();
    // Without --to, the least loaded node that meets the class's placement constraints (the engine says which not).
    const targets = options.to !== undefined ? [findNode(nodes, options.to, '--to')] : byLoad(nodes, s.nodeName ?? '');
    const row = await firstPlaceable(targets, (to) => moveOne(engine, s, to, plan, options));
    if (row.moved) {
      const [to, from] = [row.to, row.from].map((name) => nodes.find((n) => n.name === name));
      if (to) to.students++;
      if (from) from.students--;
    }
    rows.push(row);
    options.onMoved?.(row);
  }
  return { class: observed.className, students: rows, seconds: secs(started) };
}

/** Moves to each target in turn while the engine says it does not meet the class's placement constraints. */
async function firstPlaceable(targets: EngineNode[], move: (to: EngineNode) => Promise<MoveRow>): Promise<MoveRow> {
  for (const [i, to] of targets.entries()) {
    const last = i === targets.length - 1;
    const row = await move(to).catch((error: unknown) => {
      if (!last && error instanceof LabctlError && error.code === 'placement') return undefined;
      throw error;
    });
    if (row && (last || row.moved || row.code !== 'placement')) return row;
  }
  throw new Error('no node to move to'); // not reached: targets is never empty, and the last one's row is returned
}

async function moveOne(
  engine: Engine,
  s: ObservedStudent,
  to: EngineNode,
  plan: Awaited<ReturnType<typeof planOf>>,
  options: MoveOptions,
): Promise<MoveRow> {
  const started = Date.now();
  const names = [s.mail, s.sidecar].flatMap((w) => (w ? [w.name] : []));
  const base = { student: s.student, from: s.nodeName ?? '?', to: to.name };
  const target = plan.students.find((p) => p.student === s.student);
  const ready = async () => {
    if (target)
      await waitStudentReady(target, plan, engine, Date.now() + options.timeoutSeconds * 1000, options.signal);
  };
  /** The student is back where they were: waited for when they ran, so that `move` ends with them answering. */
  const stayed = async (error: LabctlError): Promise<MoveRow> => {
    let why = error.message;
    if (s.mail?.state === 'running' && !options.signal.aborted) {
      await ready().catch((e: Error) => {
        why += ` They have not answered again on ${base.from} yet: ${firstLine(e.message)}`;
      });
    }
    if (options.student === undefined)
      return { ...base, moved: false, seconds: secs(started), problem: why, code: error.code };
    throw new LabctlError(
      error.exitCode,
      `Student ${s.student} was not moved: ${why}`,
      error.hint ?? `They stay on node ${base.from}, as they were.`,
      error.code,
    );
  };
  let move;
  try {
    move = await engine.moveWorkloads(names, to.id);
  } catch (error) {
    if (!(error instanceof LabctlError)) throw error;
    return stayed(error);
  }
  if (options.signal.aborted) {
    await move.undo();
    return stayed(new LabctlError(ExitCode.interrupted, 'interrupted during the copy.'));
  }
  if (move.wasRunning) {
    try {
      await ready();
    } catch (error) {
      await move.undo();
      const why = `it did not answer on ${to.name}, so it stays on ${move.from}: ${firstLine((error as Error).message)}`;
      return stayed(new LabctlError(ExitCode.notReady, why));
    }
  }
  const row: MoveRow = { ...base, from: move.from, moved: true, seconds: secs(started), bytes: move.bytes };
  try {
    await move.commit();
  } catch (error) {
    row.problem = (error as Error).message;
  }
  return row;
}

const firstLine = (text: string) => text.split('\n')[0] ?? text;
const secs = (since: number) => Math.round((Date.now() - since) / 100) / 10;
