/**
 * Benchmark: `labctl up` and `down` for a class, against plain parallel `docker run` calls as a floor.
 * Usage: npm run bench -- --students 19 [--runs 3] [--engines local,swarm]
 * With swarm among --engines, `up` and `down` are timed on Docker Swarm mode too (a one-node swarm made here and left
 * afterwards, or the engine's own), for the same students; --engines swarm times only that and the local up/down.
 */
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { ensureImages } from '../../src/core/images.js';
import { classInfo } from '../../src/core/class-model.js';
import { loadLab } from '../../src/core/lab.js';
import { PORT_BLOCK, WEB_OFFSET } from '../../src/core/ports.js';
import { LocalEngine } from '../../src/docker/local-engine.js';
import { waitForGreeting } from '../../src/probe.js';
import { Reporter } from '../../src/ui/reporter.js';
import { labctl, upArgs } from '../helpers/cli.js';
import { cleanClass } from '../helpers/docker.js';
import { cleanSwarmClass, ensureSwarm, leaveSwarm } from '../helpers/swarm.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    students: { type: 'string', default: '19' },
    runs: { type: 'string', default: '1' },
    engines: { type: 'string', default: 'local' },
  },
});
const engines = values.engines.split(',');
const students = Number(values.students);
const runs = Number(values.runs);
const CLASS = 'bench';
const FLOOR = 'benchfloor';
const SERVICES: readonly (readonly ['smtp' | 'pop3' | 'imap' | 'ssh', number])[] = [
  ['smtp', 25],
  ['pop3', 110],
  ['imap', 143],
  ['ssh', 22],
] as const;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function labctlUp(base: number, engine = 'local') {
  const r = await labctl([...upArgs(CLASS, students, base), '--engine', engine]);
  if (r.code !== 0) throw new Error(`labctl up failed:\n${r.stderr}`);
}

async function labctlCheck() {
  const r = await labctl(['check', '--class', CLASS, '--json']);
  if (r.code !== 0) throw new Error(`labctl check failed:\n${r.stderr}`);
  const board = JSON.parse(r.stdout) as { students: { error?: string }[] };
  const sick = board.students.filter((s) => s.error);
  if (sick.length > 0) throw new Error(`check found ${sick.length} sidecar(s) down`);
}

/** From the server's "250 queued" to the credit in the sidecar's API. */
async function creditLatency(engine: LocalEngine): Promise<number> {
  const info = await classInfo(CLASS, engine, 1);
  const s1 = info.students[0]!;
  const s = await Session.open(s1.ports.smtp!);
  await s.read(SMTP_FINAL);
  await s.say('helo bench', SMTP_FINAL);
  await s.say('mail from: util1', SMTP_FINAL);
  await s.say('rcpt to: util11', SMTP_FINAL);
  await s.say('data', SMTP_FINAL);
  s.type('Subject: bench');
  s.type('');
  await s.say('.', SMTP_FINAL);
  const queued = performance.now();
  await s.say('quit', SMTP_FINAL);
  s.close();
  const api = s1.page!.replace('/?k=', '/api/progress?k=');
  for (;;) {
    const progress = (await (await fetch(api)).json()) as { exercises: { id: string; done: boolean }[] };
    if (progress.exercises.find((e) => e.id === 'smtp-simple')?.done) return performance.now() - queued;
    if (performance.now() - queued > 10_000) throw new Error('no credit within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends one message over SMTP from the host to student 1; resolves when Postfix said "250 queued". */
async function smtpTo(port: number, from: string, body: string[]): Promise<number> {
  const s = await Session.open(port);
  await s.read(SMTP_FINAL);
  await s.say('helo bench', SMTP_FINAL);
  await s.say(`mail from: ${from}`, SMTP_FINAL);
  await s.say('rcpt to: util11', SMTP_FINAL);
  await s.say('data', SMTP_FINAL);
  for (const line of body) s.type(line);
  const reply = await s.say('.', SMTP_FINAL);
  const queued = performance.now();
  if (!reply.startsWith('250')) throw new Error(`not queued: ${reply}`);
  await s.say('quit', SMTP_FINAL);
  s.close();
  return queued;
}

/** Waits until the exercise is credited in student 1's API; returns the time since `since`. */
async function creditedAfter(page: string, id: string, since: number, timeoutMs = 30_000): Promise<number> {
  const api = page.replace('/?k=', '/api/progress?k=');
  for (;;) {
    const progress = (await (await fetch(api)).json()) as { exercises: { id: string; done: boolean }[] };
    if (progress.exercises.find((e) => e.id === id)?.done) return performance.now() - since;
    if (performance.now() - since > timeoutMs) throw new Error(`no credit for ${id} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The highest memory the container shows while `work` runs (engine stats, sampled). */
async function peakMemory(engine: LocalEngine, name: string, work: () => Promise<unknown>): Promise<number> {
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) peak = Math.max(peak, await engine.memoryUsage(name));
  })();
  try {
    await work();
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    running = false;
    await sampler;
  }
  return peak;
}

/**
 * Student 1 under load: 2,000 small messages submitted inside their server (one `sendmail -bs` session, so the
 * per-client rate limit of smtpd does not apply), a real SMTP credit timed during that burst, then a 15 MB
 * message. Returns the figures the trust issue asks for.
 */
async function load(engine: LocalEngine) {
  const info = await classInfo(CLASS, engine, 1);
  const s1 = info.students[0]!;
  const mail = `labctl-${CLASS}-s01-mail`;
  const sidecar = `labctl-${CLASS}-s01-sidecar`;
  const script =
    'for i in $(seq 1 2000); do printf "MAIL FROM:<root>\\r\\nRCPT TO:<util1>\\r\\nDATA\\r\\nSubject: burst $i\\r\\n\\r\\nx\\r\\n.\\r\\n"; done; printf "QUIT\\r\\n"';
  let burstDone = false;
  const burst = engine
    .exec(mail, ['bash', '-c', `(${script}) | sendmail -bs >/dev/null`])
    .then(() => (burstDone = true));
  await new Promise((r) => setTimeout(r, 1000));
  const during = await creditedAfter(
    s1.page!,
    'smtp-spoofed-sender',
    await smtpTo(s1.ports.smtp!, 'president@u-picardie.fr', ['Subject: pendant la rafale', '', 'x', '']),
  );
  const duringBurst = !burstDone;
  const afterBurst = await peakMemory(engine, sidecar, async () => {
    await burst;
    for (let i = 0; i < 300; i++) {
      const q = await engine.exec(mail, ['postqueue', '-p']);
      if (/Mail queue is empty/.test(q.stdout)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  const checks: number[] = [];
  for (let k = 0; k < 5; k++) checks.push(await timed(labctlCheck));
  const photo = Buffer.alloc(11 * 1024 * 1024, 7)
    .toString('base64')
    .match(/.{1,76}/g)!;
  const big = [
    'Subject: photo',
    'Content-Type: multipart/mixed; boundary=BIG',
    '',
    '--BIG',
    'Content-Type: image/jpeg; name="photo.jpg"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="photo.jpg"',
    '',
    ...photo,
    '--BIG--',
  ];
  let bigCredit = 0;
  const afterBig = await peakMemory(engine, sidecar, async () => {
    bigCredit = await creditedAfter(
      s1.page!,
      'smtp-attachment-base64',
      await smtpTo(s1.ports.smtp!, 'util1', big),
      60_000,
    );
  });
  return { during, duringBurst, afterBurst, checks, afterBig, bigCredit, bigBytes: big.join('\r\n').length };
}

async function labctlReset() {
  const r = await labctl(['reset', '--class', CLASS, '--student', '1', '--user', 'util11', '--yes']);
  if (r.code !== 0) throw new Error(`labctl reset failed:\n${r.stderr}`);
}

async function labctlDown() {
  const r = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
  if (r.code !== 0) throw new Error(`labctl down failed:\n${r.stderr}`);
}

const docker = (...args: string[]) => run('docker', args);
const floorName = (n: number) => `labctl-${FLOOR}-s${String(n).padStart(2, '0')}`;
const range = Array.from({ length: students }, (_, i) => i + 1);

/** The floor: what a person would type, `docker network create` and `docker run -d`, all in parallel. */
async function floorUp(base: number, image: string, sidecarImage: string) {
  await Promise.all(
    range.map(async (n) => {
      const name = floorName(n);
      await docker('network', 'create', '--label', `dev.labctl.class=${FLOOR}`, name);
      const ports = SERVICES.flatMap(([, p]) => ['-p', `127.0.0.1:${base + n * PORT_BLOCK + (p % PORT_BLOCK)}:${p}`]);
      const vols = [
        'spool:/var/mail',
        'home:/home',
        'log:/var/log',
        'evidence:/var/lib/labctl/evidence',
        'keys:/var/lib/labctl/keys',
      ].flatMap((v) => ['-v', `${name}-${v}`]);
      await docker(
        'run',
        '-d',
        '--name',
        `${name}-mail`,
        '--label',
        `dev.labctl.class=${FLOOR}`,
        '--hostname',
        `mail.${name}.test`,
        '--network',
        name,
        ...ports,
        ...vols,
        image,
      );
      await docker(
        'run',
        '-d',
        '--name',
        `${name}-sidecar`,
        '--label',
        `dev.labctl.class=${FLOOR}`,
        '--network',
        name,
        '-p',
        `127.0.0.1:${base + n * PORT_BLOCK + WEB_OFFSET}:8080`,
        '-v',
        `${name}-evidence:/evidence:ro`,
        '-v',
        `${name}-progress:/state`,
        ...floorSidecarEnv(n).flatMap((e) => ['-e', e]),
        sidecarImage,
      );
    }),
  );
  const deadline = Date.now() + 90_000;
  await Promise.all(
    range.flatMap((n) =>
      [...SERVICES, ['web', 80] as const].map(([s, p]) =>
        waitForGreeting('127.0.0.1', base + n * PORT_BLOCK + (p % PORT_BLOCK), s, deadline),
      ),
    ),
  );
}

/** The sidecar needs its configuration even in the floor. */
function floorSidecarEnv(n: number): string[] {
  const card = {
    className: FLOOR,
    student: n,
    host: '127.0.0.1',
    domain: 'x.test',
    ports: {},
    pair: ['util1', 'util11'],
    password: 'x',
    accounts: 19,
  };
  return [
    `LABCTL_LAB=${JSON.stringify({ labName: 'smtp-pop-imap', labTitle: 'TD', exercises: [] })}`,
    `LABCTL_CARD=${JSON.stringify(card)}`,
    'LABCTL_ADMIN_KEY=floor',
    'LABCTL_STUDENT_KEY=floor',
  ];
}

async function floorDown() {
  await Promise.all(range.map((n) => docker('rm', '-f', `${floorName(n)}-mail`, `${floorName(n)}-sidecar`)));
  await Promise.all(range.map((n) => docker('network', 'rm', floorName(n))));
  await Promise.all(
    range.map((n) =>
      docker(
        'volume',
        'rm',
        ...['spool', 'home', 'log', 'evidence', 'keys', 'progress'].map((v) => `${floorName(n)}-${v}`),
      ),
    ),
  );
}

/** `up` and `down` of the same class on Swarm and on the local engine, one after the other, `runs` times. */
async function swarmRuns(base: number) {
  const created = await ensureSwarm();
  const t = { swarmUp: [] as number[], swarmDown: [] as number[], up: [] as number[], down: [] as number[] };
  try {
    for (let i = 0; i < runs; i++) {
      t.swarmUp.push(await timed(() => labctlUp(base, 'swarm')));
      t.swarmDown.push(await timed(labctlDown));
      t.up.push(await timed(() => labctlUp(base, 'local')));
      t.down.push(await timed(labctlDown));
    }
  } finally {
    await cleanSwarmClass(CLASS);
    await leaveSwarm(created);
  }
  const row = (name: string, swarm: number[], local: number[]) =>
    `${name.padEnd(6)} swarm ${seconds(median(swarm)).padStart(8)}   local engine ${seconds(median(local)).padStart(8)}   ratio ${(median(swarm) / median(local)).toFixed(2)}x`;
  console.log(`labctl on Docker Swarm mode (one node): ${students} students, ${runs} run(s), medians`);
  console.log(row('up', t.swarmUp, t.up));
  console.log(row('down', t.swarmDown, t.down));
}

async function main() {
  const engine = new LocalEngine();
  if (!engines.includes('local')) {
    await ensureImages(await loadLab(), engine, new Reporter());
    await cleanSwarmClass(CLASS);
    await swarmRuns(await freeBasePort(students));
    return;
  }
  const images = await ensureImages(await loadLab(), engine, new Reporter());
  await cleanClass(CLASS);
  await cleanClass(FLOOR);
  const base = await freeBasePort(students);
  const t = {
    up: [] as number[],
    down: [] as number[],
    floorUp: [] as number[],
    floorDown: [] as number[],
    memory: [] as number[],
    sidecarMemory: [] as number[],
    check: [] as number[],
    credit: [] as number[],
    reset: [] as number[],
  };
  let loaded: Awaited<ReturnType<typeof load>> | undefined;
  for (let i = 0; i < runs; i++) {
    t.up.push(await timed(() => labctlUp(base)));
    const { containers } = await engine.list(CLASS);
    const average = async (role: string) => {
      const memory = await Promise.all(
        containers.filter((c) => c.labels['dev.labctl.role'] === role).map((c) => engine.memoryUsage(c.name)),
      );
      return memory.reduce((a, b) => a + b, 0) / memory.length;
    };
    // Let the sidecars settle to idle before reading their memory.
    await new Promise((r) => setTimeout(r, 3000));
    t.memory.push(await average('mail'));
    t.sidecarMemory.push(await average('sidecar'));
    for (let k = 0; k < 5; k++) t.check.push(await timed(labctlCheck));
    t.credit.push(await creditLatency(engine));
    t.reset.push(await timed(labctlReset));
    if (i === 0) loaded = await load(engine);
    t.down.push(await timed(labctlDown));
    t.floorUp.push(await timed(() => floorUp(base, images.mail, images.sidecar)));
    t.floorDown.push(await timed(floorDown));
  }
  await cleanClass(CLASS);
  await cleanClass(FLOOR);
  if (engines.includes('swarm')) await swarmRuns(base);
  const row = (name: string, ms: number[], floor: number[]) =>
    `${name.padEnd(6)} labctl ${seconds(median(ms)).padStart(8)}   docker run floor ${seconds(median(floor)).padStart(8)}   ratio ${(median(ms) / median(floor)).toFixed(2)}x`;
  console.log(`labctl benchmark: ${students} students, ${runs} run(s), medians`);
  console.log(row('up', t.up, t.floorUp));
  console.log(row('down', t.down, t.floorDown));
  const mib = (bytes: number[]) => `${(median(bytes) / 2 ** 20).toFixed(1)} MiB`;
  console.log(`memory per student (engine stats): mail ${mib(t.memory)}, sidecar ${mib(t.sidecarMemory)} (idle)`);
  console.log(`labctl check for the class: ${seconds(median(t.check))} (median of ${t.check.length})`);
  console.log(`a new result in the sidecar's API after "250 queued": ${seconds(median(t.credit))}`);
  console.log(`labctl reset of one mailbox (whole command): ${seconds(median(t.reset))}`);
  if (loaded) {
    const l = loaded;
    console.log(
      `during a burst of 2,000 messages to student 1: a credit ${seconds(l.during)} after "250 queued"${l.duringBurst ? '' : ' (the burst had already ended)'}`,
    );
    console.log(
      `student 1's sidecar: peak ${(l.afterBurst / 2 ** 20).toFixed(1)} MiB through the burst; labctl check for ${students} students then ${seconds(median(l.checks))}`,
    );
    console.log(
      `a ${(l.bigBytes / 2 ** 20).toFixed(1)} MB message (11 MiB base64 attachment): credited ${seconds(l.bigCredit)} after "250 queued", sidecar peak ${(l.afterBig / 2 ** 20).toFixed(1)} MiB`,
    );
  }
}

await main();
