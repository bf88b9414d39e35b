import pLimit from 'p-limit';
import type { Engine } from '../docker/engine.js';
import { LabctlError, usageError } from '../errors.js';
import { waitStudentReady } from './apply.js';
import { planOf } from './class-sleep.js';
import type { ObservedClass } from './observed-class.js';

/**
 * `labctl snapshot`: each student's volumes copied to the Swarm manager (Engine.snapshotWorkloads), so that a node
 * gone for good loses nothing the snapshot holds: `up --replace-lost` brings it back. Each student is stopped during
 * their copy and answers again before their row is done; a student that could not be copied keeps their previous
 * snapshot, and the others go on.
 */

export interface SnapshotRow {
  student: number;
  node: string;
  done: boolean;
  seconds: number;
  bytes?: number;
  /** The snapshot's time (ISO). */
  time?: string;
  /** Why there is no new snapshot of theirs, or what went wrong after it (they did not answer again). */
  problem?: string;
}

export interface SnapshotResult {
  class: string;
  students: SnapshotRow[];
  seconds: number;
}

/** Two students at a time: each copy is a stream through labctl, and their servers are down meanwhile. */
const AT_ONCE = 2;

export async function snapshotStudents(
  engine: Engine,
  observed: ObservedClass,
  options: { timeoutSeconds: number; signal: AbortSignal; onDone?: (row: SnapshotRow) => void },
): Promise<SnapshotResult> {
  if (!engine.placesOnNodes) {
    throw usageError(
      `Class ${observed.className} runs on one Docker engine (${engine.where}): its volumes are already where a snapshot would be.`,
      '`labctl snapshot` copies the students of a Docker Swarm class to the manager; `labctl archive` keeps a copy of any class.',
    );
  }
  const started = Date.now();
  const plan = await planOf(observed);
  const limit = pLimit(AT_ONCE);
  const rows = await Promise.all(
    observed.students.map((s) =>
      limit(async (): Promise<SnapshotRow> => {
        const began = Date.now();
        const node = s.nodeName ?? s.node ?? '?';
        const row = (more: Partial<SnapshotRow>): SnapshotRow => {
          const r = { student: s.student, node, done: false, seconds: secs(began), ...more };
          options.onDone?.(r);
          return r;
        };
        if (options.signal.aborted) return row({ problem: 'interrupted before their copy' });
        if (s.nodeLost) return row({ problem: `node ${node} is ${s.nodeLost}` });
        const names = [s.mail, s.sidecar].flatMap((w) => (w ? [w.name] : []));
        let snap;
        try {
          snap = await engine.snapshotWorkloads(names);
        } catch (error) {
          if (!(error instanceof LabctlError)) throw error;
          return row({ problem: error.message });
        }
        const done = { done: true, bytes: snap.bytes, time: snap.time, node: snap.node };
        const target = plan.students.find((p) => p.student === s.student);
        if (s.mail?.state === 'running' && target) {
          try {
            const deadline = Date.now() + options.timeoutSeconds * 1000;
            await waitStudentReady(target, plan, engine, deadline, options.signal);
          } catch (error) {
            return row({
              ...done,
              problem: `they have not answered again yet: ${firstLine((error as Error).message)}`,
            });
          }
        }
        return row(done);
      }),
    ),
  );
  return { class: observed.className, students: rows, seconds: secs(started) };
}

const firstLine = (text: string) => text.split('\n')[0] ?? text;
const secs = (since: number) => Math.round((Date.now() - since) / 100) / 10;
