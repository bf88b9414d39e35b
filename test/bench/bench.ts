/**
 * Benchmark: `labctl up` and `down` for a class, against plain parallel `docker run` calls as a floor.
 * Usage: npm run bench -- --students 19 [--runs 3] [--up-down] [--read] [--session] [--floor-parallel 8|all]
 * [--engines local,swarm]
 * With swarm among --engines, `up` and `down` are timed on Docker Swarm mode too (a one-node swarm made here and left
 * afterwards, or the engine's own), for the same students; --engines swarm times only that and the local up/down.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { promisify } from 'node:util';
import { ensureImages } from '../../src/core/images.js';
import { classInfo } from '../../src/core/class-model.js';
import { loadLab } from '../../src/core/lab.js';
import { LABEL } from '../../src/core/labels.js';
import { LocalEngine } from '../../src/docker/local/local-engine.js';
import { waitUntilReady } from '../../src/core/readiness.js';
import { planClass, type Plan, type PlannedWorkload } from '../../src/core/plan.js';
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
    // Only `up` and `down` against the floor, alternating, with labctl's own trace of where its time goes.
    'up-down': { type: 'boolean', default: false },
    // The read path at scale: `check` and `status` of a class that is up, each run as the bare CLI.
    read: { type: 'boolean', default: false },
    // A graded session's tools: every student solves the TD, then `archive`, `stop` and `start` are timed.
    session: { type: 'boolean', default: false },
    engines: { type: 'string', default: 'local' },
    // How many students the floor brings up at once: the floor is `xargs -P 8`; "all" starts every one at once.
    'floor-parallel': { type: 'string', default: '8' },
  },
});
const floorParallel = values['floor-parallel'] === 'all' ? Infinity : Number(values['floor-parallel']);
if (!(floorParallel >= 1))
  throw new Error(`--floor-parallel: a number of students or "all", not ${values['floor-parallel']}`);
const engines = values.engines.split(',');
const students = Number(values.students);
const runs = Number(values.runs);
const CLASS = 'bench';
const FLOOR = 'benchfloor';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

let lastTrace = '';
async function labctlUp(base: number, engine = 'local', count = students) {
  const r = await labctl([...upArgs(CLASS, count, base), '--engine', engine], undefined, { LABCTL_TRACE: '1' });
  if (r.code !== 0) throw new Error(`labctl up failed:\n${r.stderr}`);
  lastTrace = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('trace '))
    .join('\n');
}

/** `up` and `down` only, against the floor, in turn, so that both see the same machine. */
async function upDown() {
  const engine = new LocalEngine(LABEL);
  const images = await ensureImages(await loadLab(), engine, new Reporter());
  await cleanClass(CLASS);
  await cleanClass(FLOOR);
  const base = await freeBasePort(students);
  const t = { up: [] as number[], down: [] as number[], floorUp: [] as number[], floorDown: [] as number[] };
  const one: number[] = [];
  let memory = '';
  for (let i = 0; i < runs; i++) {
    one.push(await timed(() => labctlUp(base, 'local', 1)));
    await labctlDown();
    t.up.push(await timed(() => labctlUp(base)));
    if (i === 0) memory = await memoryPerStudent(engine);
    t.down.push(await timed(labctlDown));
    t.floorUp.push(await timed(() => floorUp(base, images.mail, images.sidecar)));
    t.floorDown.push(await timed(floorDown));
  }
  await cleanClass(CLASS);
  await cleanClass(FLOOR);
  const row = (name: string, ms: number[], floor: number[]) =>
    `${name.padEnd(6)} labctl ${seconds(median(ms)).padStart(8)}   docker run floor ${seconds(median(floor)).padStart(8)}   ratio ${(median(ms) / median(floor)).toFixed(2)}x   (runs: ${ms.map((x) => (x / 1000).toFixed(1)).join(', ')} / ${floor.map((x) => (x / 1000).toFixed(1)).join(', ')})`;
  const parallel = floorParallel === Infinity ? 'all students at once' : `${floorParallel} students at a time`;
  console.log(`labctl benchmark, up and down only: ${students} students, ${runs} run(s), medians; floor: ${parallel}`);
  console.log(row('up', t.up, t.floorUp));
  console.log(row('down', t.down, t.floorDown));
  if (students > 1) {
    const each = (median(t.up) - median(one)) / (students - 1);
    console.log(`up of 1 student ${seconds(median(one))}; each student beyond the first: ${seconds(each)}`);
  }
  console.log(memory);
  console.log(`where labctl up's time went (last run, LABCTL_TRACE):\n${lastTrace}`);
}

/**
 * The read path at scale: a class of --students is brought up once, then `labctl check` and `labctl status` (of
 * that class, and of every class; and `status --greet`) are each timed --runs times (at least 3) as the bare CLI (`node bin/labctl.js`,
 * what the `labctl` shim runs), with labctl's own trace of the last run.
 */
async function readPath() {
  await cleanClass(CLASS);
  const base = await freeBasePort(students);
  const upTime = await timed(() => labctlUp(base));
  console.log(`up of ${students} students: ${seconds(upTime)}`);
  // The class at rest, as the read path finds it: after a minute to settle, the host's CPU over 30 s.
  await new Promise((r) => setTimeout(r, 60_000));
  const idle = await hostBusy(30_000);
  console.log(
    `the class at rest: the host's CPU ${(idle.busyCores * 100).toFixed(0)}% of one core busy (${idle.cores} cores), ` +
      `${((idle.busyCores * 1000) / students).toFixed(1)} CPU-ms/s a student`,
  );
  const times = new Map<string, number[]>();
  const traces = new Map<string, string>();
  const commands: [string, string[]][] = [
    ['check', ['check', '--class', CLASS, '--json']],
    ['status', ['status', '--class', CLASS, '--json']],
    ['status (every class)', ['status', '--json']],
    // Every service greeted, as before status read the listeners: what the listeners save.
    ['status --greet', ['status', '--class', CLASS, '--json', '--greet']],
  ];
  try {
    for (let i = 0; i < Math.max(3, runs); i++) {
      for (const [name, args] of commands) {
        let r = { code: 0, stdout: '', stderr: '' };
        const ms = await timed(async () => (r = await labctl(args, undefined, { LABCTL_TRACE: '1' })));
        // Exit 6: a student had no server that answered; the rows say which, below.
        if (r.code !== 0 && r.code !== 6) throw new Error(`labctl ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
        const rows = JSON.parse(r.stdout) as
          { students?: { error?: string }[] } | { class: string; services: Record<string, boolean> }[];
        // Only this class's students count (status of every class shows the others too).
        const bad = Array.isArray(rows)
          ? rows.filter((x) => x.class === CLASS && Object.values(x.services).some((ok) => !ok)).length
          : (rows.students ?? []).filter((x) => x.error).length;
        if (bad > 0) {
          // Said, with what did not answer, and the run goes on: the figures of the rest still count.
          const down = new Map<string, number>();
          const count = (k: string) => down.set(k, (down.get(k) ?? 0) + 1);
          if (Array.isArray(rows)) {
            for (const x of rows.filter((r) => r.class === CLASS))
              for (const [svc, ok] of Object.entries(x.services)) if (!ok) count(svc);
          } else {
            for (const x of rows.students ?? []) if (x.error) count(x.error);
          }
          console.log(`labctl ${args.join(' ')}: ${bad} student(s) not answering: ${JSON.stringify([...down])}`);
        }
        // How many of the class's students status read from their listeners (the rest it greeted).
        if (Array.isArray(rows) && i === 0) {
          const mine = rows.filter((x) => x.class === CLASS) as { seen?: string }[];
          console.log(`${name}: ${mine.filter((x) => x.seen === 'listeners').length} of ${mine.length} from listeners`);
        }
        times.set(name, [...(times.get(name) ?? []), ms]);
        traces.set(
          name,
          r.stderr
            .split('\n')
            .filter((l) => l.startsWith('trace '))
            .join('\n'),
        );
      }
    }
  } finally {
    // The figures first: a `down` that fails (an engine short of CPU) does not lose them.
    console.log(`labctl benchmark, the read path: ${students} students (up took ${seconds(upTime)}), the bare CLI`);
    for (const [name, ms] of times)
      console.log(
        `${name.padEnd(22)} median ${seconds(median(ms)).padStart(8)}   (runs: ${ms.map((x) => (x / 1000).toFixed(2)).join(', ')})`,
      );
    for (const [name, trace] of traces) console.log(`where ${name}'s time went (last run):\n${trace}`);
    await labctlDown();
  }
}

/**
 * A graded session after the TD, for --students: each student's card is solved by the lab's solve script (every
 * exercise), then `archive` (its size), `verify-archive`, `stop` and `start` are timed once each, as the bare CLI.
 */
async function sessionTools() {
  await cleanClass(CLASS);
  const base = await freeBasePort(students);
  const upTime = await timed(() => labctlUp(base));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-bench-'));
  const must = async (args: string[]) => {
    const r = await labctl(args);
    if (r.code !== 0) throw new Error(`labctl ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    return r;
  };
  try {
    const solve = path.resolve('labs/smtp-pop-imap/solve');
    const limit = pLimit(4);
    const solving = await timed(() =>
      Promise.all(
        Array.from({ length: students }, (_, i) =>
          limit(async () => {
            const card = path.join(dir, `card-${i + 1}.json`);
            await writeFile(
              card,
              (await must(['info', '--class', CLASS, '--student', String(i + 1), '--json'])).stdout,
            );
            await run(solve, [card], { timeout: 600_000 });
          }),
        ),
      ),
    );
    const file = path.join(dir, 'class.tar.gz');
    const archive = await timed(() => must(['archive', '--class', CLASS, '--output', file]));
    const bytes = (await stat(file)).size;
    const verify = await timed(() => must(['verify-archive', file]));
    const stop = await timed(() => must(['stop', '--class', CLASS]));
    const start = await timed(() => must(['start', '--class', CLASS]));
    console.log(`labctl benchmark, a graded session's tools: ${students} students (up took ${seconds(upTime)})`);
    console.log(`every student solves the TD (the lab's solve script, four at a time): ${seconds(solving)}`);
    console.log(`archive: ${seconds(archive)}, ${(bytes / 1024).toFixed(0)} KiB; verify-archive: ${seconds(verify)}`);
    console.log(`stop: ${seconds(stop)}; start (until every service answers): ${seconds(start)}`);
  } finally {
    await labctlDown();
    await rm(dir, { recursive: true, force: true });
  }
}

/** How busy the host's CPUs were over `ms` (from /proc/stat): cores' worth of time not idle. */
async function hostBusy(ms: number): Promise<{ busyCores: number; cores: number }> {
  const sample = async () => {
    const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { total: cpu.reduce((a, b) => a + b, 0), idle: (cpu[3] ?? 0) + (cpu[4] ?? 0) };
  };
  const cores = (await readFile('/proc/stat', 'utf8')).split('\n').filter((l) => /^cpu\d/.test(l)).length;
  const a = await sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = await sample();
  const busy = 1 - (b.idle - a.idle) / (b.total - a.total);
  return { busyCores: busy * cores, cores };
}

/**
 * Memory per student, a few seconds after `up`: the mail server's and the sidecar's (engine stats), and on the host
 * the engine's port proxies (one docker-proxy process per published port, outside every container).
 */
async function memoryPerStudent(engine: LocalEngine): Promise<string> {
  await new Promise((r) => setTimeout(r, 3000));
  const proxies = await run('ps', ['-o', 'rss=', '-C', 'docker-proxy']).then(
    (r) => r.stdout.split('\n').reduce((a, line) => a + (Number(line.trim()) || 0) * 1024, 0),
    () => 0,
  );
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const [mail, sidecar] = [await averageMemory(engine, 'mail'), await averageMemory(engine, 'sidecar')];
  return `memory per student: mail ${mib(mail)}, sidecar ${mib(sidecar)}, together ${mib(mail + sidecar)}; the engine's port proxies on the host ${mib(proxies / students)}`;
}

/** The bench class's containers of one role (mail or sidecar): their average memory, from the engine's stats. */
async function averageMemory(engine: LocalEngine, role: string): Promise<number> {
  const { containers } = await engine.list(CLASS);
  const memory = await Promise.all(
    containers.filter((c) => c.labels['dev.labctl.role'] === role).map((c) => engine.memoryUsage(c.name)),
  );
  return memory.reduce((a, b) => a + b, 0) / memory.length;
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

/**
 * The floor: what a person would type to run the very same containers by hand: per student, in parallel,
 * `docker network create`, then `docker run -d` of the mail server and of the sidecar with every option labctl gives
 * them (limits, capabilities, tmpfs, user, restart policy, labels, environment with the rendered configuration),
 * taken from labctl's own plan; then a loop that asks every port until it answers.
 */
let floorPlan: Plan | undefined;
async function floorUp(base: number, image: string, sidecarImage: string) {
  floorPlan = await planClass(await loadLab(), {
    className: FLOOR,
    students,
    basePort: base,
    host: '127.0.0.1',
    bind: '127.0.0.1',
    mailImage: image,
    sidecarImage,
    token: 'floor-token',
    passwords: 'lab',
  });
  const limit = pLimit(floorParallel);
  await Promise.all(
    floorPlan.students.map((s) =>
      limit(async () => {
        await docker('network', 'create', ...labelArgs(s.network.labels), s.network.name);
        for (const c of s.containers) await docker('run', '-d', ...runArgs(c, s.network.name), c.image);
      }),
    ),
  );
  const deadline = Date.now() + 90_000;
  await Promise.all(
    floorPlan.students.flatMap((s) =>
      s.containers.flatMap((c) => c.ports.map((p) => waitUntilReady('127.0.0.1', p.host, p.service, deadline))),
    ),
  );
}

const labelArgs = (labels: Record<string, string>) =>
  Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);

/** `docker run` flags for a planned container: the same container labctl creates through the API. */
function runArgs(c: PlannedWorkload, network: string): string[] {
  const sec = c.security;
  return [
    ...['--name', c.name, '--hostname', c.hostname, '--network', network, '--restart', 'unless-stopped'],
    ...labelArgs(c.labels),
    ...c.env.flatMap((e) => ['-e', e]),
    ...c.ports.flatMap((p) => ['-p', `127.0.0.1:${p.host}:${p.container}`]),
    ...c.mounts.flatMap((m) => [
      '--mount',
      `type=volume,src=${m.volume},dst=${m.target}${m.readOnly ? ',readonly' : ''}`,
    ]),
    ...['--pids-limit', String(c.limits.pids), '--memory', String(c.limits.memoryBytes)],
    ...['--memory-swap', String(c.limits.memoryBytes), '--cpus', String(c.limits.cpus)],
    ...['--log-opt', `max-size=${c.limits.log.maxSize}`, '--log-opt', `max-file=${c.limits.log.maxFiles}`],
    ...(sec.user ? ['--user', sec.user] : []),
    ...(sec.capAdd ?? []).flatMap((cap) => ['--cap-add', cap]),
    ...(sec.capDrop ?? []).flatMap((cap) => ['--cap-drop', cap]),
    ...(sec.noNewPrivileges ? ['--security-opt', 'no-new-privileges:true'] : []),
    ...(sec.readOnlyRootfs ? ['--read-only'] : []),
    ...Object.entries(sec.tmpfs ?? {}).flatMap(([path, opts]) => ['--tmpfs', `${path}:${opts}`]),
  ];
}

async function floorDown() {
  const plan = floorPlan!;
  const limit = pLimit(floorParallel);
  await Promise.all(
    plan.students.map((s) =>
      limit(async () => {
        await docker('rm', '-f', ...s.containers.map((c) => c.name));
        await docker('network', 'rm', s.network.name);
        await docker('volume', 'rm', ...s.volumes.map((v) => v.name));
      }),
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
  const engine = new LocalEngine(LABEL);
  if (values.session) {
    await ensureImages(await loadLab(), engine, new Reporter());
    return sessionTools();
  }
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
    // Let the sidecars settle to idle before reading their memory.
    await new Promise((r) => setTimeout(r, 3000));
    t.memory.push(await averageMemory(engine, 'mail'));
    t.sidecarMemory.push(await averageMemory(engine, 'sidecar'));
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

await (values.read ? readPath() : values['up-down'] ? upDown() : main());
