import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_LAB_FILE, parseLab } from '../../src/core/lab.js';
import type { SidecarConfig } from '../../src/sidecar/config.js';

/** The default lab, whose rules the sidecars of these tests run. */
const td = parseLab(readFileSync(DEFAULT_LAB_FILE, 'utf8'), DEFAULT_LAB_FILE);
const exercise = (id: string) => ({ ...(td.exercises.find((e) => e.id === id) ?? { id, credit: [] }), title: id });

/** A sidecar of student 1 of class td1 whose evidence lives under `dir` (log/verify.log, archive/). */
export function makeConfig(
  dir: string,
  exercises = ['smtp-simple', 'smtp-subject', 'smtp-two-recipients', 'pop-login'],
  keys: { adminKey: string; studentKey: string } = { adminKey: 't', studentKey: 'k' },
): SidecarConfig {
  return {
    card: {
      className: 'td1',
      student: 1,
      host: '192.0.2.1',
      domain: 's01.td1.test',
      ports: {},
      pair: ['util1', 'util11'],
      password: 'x',
      accounts: 19,
      users: Array.from({ length: 19 }, (_, i) => `util${i + 1}`),
      sshHost: 'labctl-td1-s01-mail',
    },
    labName: 'smtp-pop-imap',
    labTitle: 'TD',
    exercises: exercises.map(exercise),
    evidence: td.evidence,
    ...keys,
    verifyLog: path.join(dir, 'log/verify.log'),
    archiveDir: path.join(dir, 'archive'),
    listenersFile: path.join(dir, 'listening'),
    trustedUids: [0, 101],
    stateFile: path.join(dir, 'state/progress.json'),
    port: 0,
    pollMs: 500,
    idlePollMs: 5000,
  };
}
