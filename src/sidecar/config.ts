/** What labctl tells a sidecar, through its environment. */
export interface SidecarCard {
  className: string;
  student: number;
  host: string;
  domain: string;
  ports: Record<string, number>;
  pair: [string, string];
  password: string;
  /** The password of each account of the pair. */
  passwords?: Record<string, string>;
  accounts: number;
}

export interface SidecarConfig {
  card: SidecarCard;
  labName: string;
  labTitle: string;
  exercises: { id: string; title: string }[];
  /** labctl's key for this sidecar (Bearer): progress and reset. Not the class token, which stays on the host. */
  adminKey: string;
  studentKey: string;
  logFile: string;
  homeDir: string;
  stateFile: string;
  port: number;
  pollMs: number;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set; the sidecar is started by labctl up`);
  return value;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const lab = JSON.parse(required(env, 'LABCTL_LAB')) as Pick<SidecarConfig, 'labName' | 'labTitle' | 'exercises'>;
  return {
    card: JSON.parse(required(env, 'LABCTL_CARD')) as SidecarCard,
    labName: lab.labName,
    labTitle: lab.labTitle,
    exercises: lab.exercises,
    adminKey: required(env, 'LABCTL_ADMIN_KEY'),
    studentKey: required(env, 'LABCTL_STUDENT_KEY'),
    logFile: env.LABCTL_LOG_FILE ?? '/mail/log/mail.log',
    homeDir: env.LABCTL_HOME_DIR ?? '/mail/home',
    stateFile: env.LABCTL_STATE_FILE ?? '/state/progress.json',
    port: Number(env.LABCTL_PORT ?? 8080),
    pollMs: Number(env.LABCTL_POLL_MS ?? 500),
  };
}
