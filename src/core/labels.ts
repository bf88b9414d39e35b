/** Every Docker object labctl creates carries these labels; commands find objects by them. */
export const LABEL = {
  class: 'dev.labctl.class',
  student: 'dev.labctl.student',
  role: 'dev.labctl.role',
  lab: 'dev.labctl.lab',
  labFile: 'dev.labctl.lab-file',
  /** The lab itself (JSON), so the class never depends on a file that can move. */
  labData: 'dev.labctl.lab-data',
  host: 'dev.labctl.host',
  domain: 'dev.labctl.domain',
  spec: 'dev.labctl.spec',
  ports: 'dev.labctl.ports',
  token: 'dev.labctl.token',
  basePort: 'dev.labctl.base-port',
  bind: 'dev.labctl.bind',
  passwords: 'dev.labctl.passwords',
  image: 'dev.labctl.image',
  lockPid: 'dev.labctl.lock-pid',
  lockHost: 'dev.labctl.lock-host',
  lockSince: 'dev.labctl.lock-since',
  /** The command that holds the lock (up, stop, snapshot…), named to whoever waits for it. */
  lockCommand: 'dev.labctl.lock-command',
  roster: 'dev.labctl.roster',
  /** On a volume: the student's disk it lives on (see docker/disks.ts). */
  disk: 'dev.labctl.disk',
  /** On the class's session volume: its time box, extra time and archives (JSON, see core/session.ts). */
  session: 'dev.labctl.session',
  /** On a snapshot's volume (labctl snapshot): the snapshot's time, and the student's volume it copies. */
  snapshot: 'dev.labctl.snapshot',
  snapshotOf: 'dev.labctl.snapshot-of',
} as const;

export type Role = 'mail' | 'sidecar' | 'network' | 'volume' | 'disk' | 'lock' | 'roster' | 'session' | 'snapshot';

export function studentLabels(className: string, student: number, role: Role): Record<string, string> {
  return { [LABEL.class]: className, [LABEL.student]: String(student), [LABEL.role]: role };
}
