import type { Engine } from '../docker/engine.js';
import { observeClass, type ObservedClass } from './observed-class.js';
import type { PersonFields } from './roster.js';

export interface StudentInfo extends PersonFields {
  student: number;
  host: string;
  domain: string;
  ports: Record<string, number>;
  accounts: { user: string; password: string }[];
  pair: [string, string];
  state: string;
  /** The student's progress page (the sidecar), with their key. */
  page: string | null;
}

export interface ClassInfo {
  class: string;
  lab: string;
  title: string;
  students: StudentInfo[];
}

/** Everything a student needs to connect (their card), from the observed class. */
export function infoOf(observed: ObservedClass): ClassInfo {
  return {
    class: observed.className,
    lab: observed.lab.name,
    title: observed.lab.title,
    students: observed.students
      .filter((s) => s.mail)
      .map((s) => ({
        student: s.student,
        ...(s.name !== undefined && { name: s.name }),
        ...(s.email !== undefined && { email: s.email }),
        ...(s.number !== undefined && { number: s.number }),
        ...(s.group !== undefined && { group: s.group }),
        host: s.host,
        domain: s.domain,
        ports: s.ports,
        accounts: s.accounts,
        pair: s.pair,
        state: s.mail!.state,
        page: s.page,
      })),
  };
}

/** Everything a student needs to connect, read from the engine: no state file. */
export async function classInfo(className: string, engine: Engine, student?: number): Promise<ClassInfo> {
  return infoOf(await observeClass(engine, className, student));
}
