import type { ClassInfo, StudentInfo } from '../../src/core/class-model.js';

/** The lab's 19 accounts, each with the lab's password. */
export const labAccounts = Array.from({ length: 19 }, (_, i) => ({ user: `util${i + 1}`, password: 'master2021' }));

/** The lab's accounts, with `user`'s password changed. */
export const withPassword = (user: string, password: string) =>
  labAccounts.map((a) => (a.user === user ? { ...a, password } : a));

/**
 * Student n of class td1 as `info` describes them: running on 192.0.2.10, ports from base 10000 (SMTP 10n25, POP3
 * 10n10, IMAP 10n43, ssh 10n22, page 10n80), pair util<n>/util<n+10>, domain s0<n>.td1.test; `overrides` change any of it.
 */
export function studentInfo(n: number, overrides: Partial<StudentInfo> = {}): StudentInfo {
  return {
    student: n,
    host: '192.0.2.10',
    domain: `s0${n}.td1.test`,
    ports: {
      smtp: 10025 + n * 100,
      pop3: 10010 + n * 100,
      imap: 10043 + n * 100,
      ssh: 10022 + n * 100,
      web: 10080 + n * 100,
    },
    accounts: labAccounts,
    pair: [`util${n}`, `util${n + 10}`],
    state: 'running',
    page: `http://192.0.2.10:${10080 + n * 100}/?k=key${n}`,
    ...overrides,
  };
}

/** Class td1 of the TD's lab with these students. */
export const classInfo = (students: StudentInfo[]): ClassInfo => ({
  class: 'td1',
  lab: 'smtp-pop-imap',
  title: 'TD protocole SMTP, POP, IMAP',
  students,
});
