/**
 * Benchmark: `labctl up` and `down` for a class, against plain parallel `docker run` calls as a floor.
 * Usage: npm run bench -- --students 19 [--runs 3]
 */
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { ensureImages } from '../../src/commands/build.js';
import { loadLab } from '../../src/core/lab.js';
import { LocalEngine } from '../../src/docker/local-engine.js';
import { waitForGreeting } from '../../src/probe.js';
import { Reporter } from '../../src/ui/reporter.js';
import { labctl, upArgs } from '../helpers/cli.js';
import { cleanClass, freeBasePort } from '../helpers/docker.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: { students: { type: 'string', default: '19' }, runs: { type: 'string', default: '1' } },
});
const students = Number(values.students);
const runs = Number(values.runs);
const CLASS = 'bench';
const FLOOR = 'benchfloor';
const SERVICES = [
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

async function labctlDown() {
  const r = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
  if (r.code !== 0) throw new Error(`labctl down failed:\n${r.stderr}`);
}

const docker = (...args: string[]) => run('docker', args);
const floorName = (n: number) => `labctl-${FLOOR}-s${String(n).padStart(2, '0')}`;
const range = Array.from({ length: students }, (_, i) => i + 1);

/** The floor: what a person would type, `docker network create` and `docker run -d`, all in parallel. */
async function floorUp(base: number, image: string) {
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
    }),
  );
  const deadline = Date.now() + 90_000;
  await Promise.all(
    range.flatMap((n) =>
      SERVICES.map(([s, p]) => waitForGreeting('127.0.0.1', base + n * 1000 + (p % 1000), s, deadline)),
    ),
  );
}

async function floorDown() {
  await Promise.all(range.map((n) => docker('rm', '-f', `${floorName(n)}-mail`)));
  await Promise.all(range.map((n) => docker('network', 'rm', floorName(n))));
  await Promise.all(
    range.map((n) => docker('volume', 'rm', ...['spool', 'home', 'log'].map((v) => `${floorName(n)}-${v}`))),
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
    check: [] as number[],
  };
  for (let i = 0; i < runs; i++) {
    t.up.push(await timed(() => labctlUp(base)));
    const { containers } = await engine.list(CLASS);
    const mails = containers.filter((c) => c.labels['dev.labctl.role'] === 'mail');
    const memory = await Promise.all(mails.map((c) => engine.memoryUsage(c.name)));
    t.memory.push(memory.reduce((a, b) => a + b, 0) / memory.length);
    t.down.push(await timed(labctlDown));
    t.floorUp.push(await timed(() => floorUp(base, images.mail)));
    t.floorDown.push(await timed(floorDown));
  }
  await cleanClass(CLASS);
  await cleanClass(FLOOR);
  const row = (name: string, ms: number[], floor: number[]) =>
    `${name.padEnd(6)} labctl ${seconds(median(ms)).padStart(8)}   docker run floor ${seconds(median(floor)).padStart(8)}   ratio ${(median(ms) / median(floor)).toFixed(2)}x`;
  console.log(`labctl benchmark: ${students} students, ${runs} run(s), medians`);
  console.log(row('up', t.up, t.floorUp));
  console.log(row('down', t.down, t.floorDown));
  console.log(`memory per student (mail container, engine stats): ${(median(t.memory) / 2 ** 20).toFixed(1)} MiB`);
}

await main();
