/**
 * Benchmark: `labctl up` and `down` for a class, against plain parallel `docker run` calls as a floor.
 * Usage: npm run bench -- --students 19 [--runs 3]
 */
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { ensureImages } from '../../src/commands/build.js';
import { classInfo } from '../../src/commands/info.js';
import { loadLab } from '../../src/core/lab.js';
import { LocalEngine } from '../../src/docker/local-engine.js';
import { waitForGreeting } from '../../src/probe.js';
import { Reporter } from '../../src/ui/reporter.js';
import { labctl, upArgs } from '../helpers/cli.js';
import { cleanClass } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: { students: { type: 'string', default: '19' }, runs: { type: 'string', default: '1' } },
});
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

async function labctlUp(base: number) {
  const r = await labctl(upArgs(CLASS, students, base));
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
      const ports = SERVICES.flatMap(([, p]) => ['-p', `127.0.0.1:${base + n * 1000 + (p % 1000)}:${p}`]);
      const vols = ['spool:/var/mail', 'home:/home', 'log:/var/log'].flatMap((v) => ['-v', `${name}-${v}`]);
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
        `127.0.0.1:${base + n * 1000 + 80}:8080`,
        '-v',
        `${name}-home:/mail/home:ro`,
        '-v',
        `${name}-log:/mail/log:ro`,
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
        waitForGreeting('127.0.0.1', base + n * 1000 + (p % 1000), s, deadline),
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
    'LABCTL_TOKEN=floor',
    'LABCTL_STUDENT_KEY=floor',
  ];
}

async function floorDown() {
  await Promise.all(range.map((n) => docker('rm', '-f', `${floorName(n)}-mail`, `${floorName(n)}-sidecar`)));
  await Promise.all(range.map((n) => docker('network', 'rm', floorName(n))));
  await Promise.all(
    range.map((n) =>
      docker('volume', 'rm', ...['spool', 'home', 'log', 'progress'].map((v) => `${floorName(n)}-${v}`)),
    ),
  );
}

async function main() {
  const engine = new LocalEngine();
  const images = await ensureImages(await loadLab(), { engine, reporter: new Reporter() });
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
    t.down.push(await timed(labctlDown));
    t.floorUp.push(await timed(() => floorUp(base, images.mail, images.sidecar)));
    t.floorDown.push(await timed(floorDown));
  }
  await cleanClass(CLASS);
  await cleanClass(FLOOR);
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
}

await main();
