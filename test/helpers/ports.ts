import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { pidAlive } from '../../src/core/class-lock.js';
import { loadLab } from '../../src/core/lab.js';
import { maxStudents, PORT_BLOCK, studentPorts } from '../../src/core/ports.js';
import { LABEL } from '../../src/core/labels.js';
import { LocalEngine } from '../../src/docker/local/local-engine.js';

/** The range --base-port accepts (src/core/plan.ts). */
const MIN_BASE = 1024;
const MAX_BASE = 64000;

/**
 * Blocks of ports handed out, by every test process on this machine: the integration suite and the multinode suite run
 * side by side (scripts/test-docker.sh), each file in its own process, and a block one of them has chosen may not be
 * published yet when the other looks (CI once gave both 9149, and the second `up` failed with port-taken). A block is
 * a file `<low>-<high>.<pid>` here, kept for the life of the process that chose it; a dead process's files are
 * dropped by the next process that looks.
 */
const RESERVED = path.join(os.tmpdir(), 'labctl-test-ports');
const LOCK = path.join(RESERVED, 'lock');
const mine: string[] = [];

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** The blocks live processes hold; a dead process's are removed. */
function reservedBlocks(): [number, number][] {
  const blocks: [number, number][] = [];
  for (const name of readdirSync(RESERVED)) {
    const m = /^(\d+)-(\d+)\.(\d+)$/.exec(name);
    if (!m) continue;
    if (!pidAlive(Number(m[3]))) unlinkQuietly(path.join(RESERVED, name));
    else blocks.push([Number(m[1]), Number(m[2])]);
  }
  return blocks;
}

/** Runs `choose` while holding the machine-wide lock on the reservations (a dead holder's lock is taken over). */
async function reserving<T>(choose: () => Promise<T>): Promise<T> {
  mkdirSync(RESERVED, { recursive: true });
  for (;;) {
    try {
      writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder: number;
      try {
        holder = Number(readFileSync(LOCK, 'utf8'));
      } catch {
        continue; // released between the two calls
      }
      // (Two processes that both find a dead holder may both take the lock: that needs a test process killed in the
      // milliseconds it holds it, and is left alone.)
      if (holder && !pidAlive(holder)) unlinkQuietly(LOCK);
      else await sleep(20);
    }
  }
  try {
    return await choose();
  } finally {
    unlinkQuietly(LOCK);
  }
}

function reserve([low, high]: [number, number]): void {
  const file = path.join(RESERVED, `${low}-${high}.${process.pid}`);
  writeFileSync(file, '');
  if (mine.length === 0) process.once('exit', () => mine.forEach(unlinkQuietly));
  mine.push(file);
}

/** The kernel's ephemeral range: outgoing connections take ports from it at any time, so no plan goes there. */
export function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: Linux's default
  }
  return [32768, 60999];
}

/** Host ports published by any container, running or stopped, on each engine (default: DOCKER_HOST's). */
async function enginePorts(engines: Docker[]): Promise<Set<number>> {
  const used = new Set<number>();
  for (const docker of engines)
    for (const port of (await new LocalEngine(LABEL, docker).publishedPorts()).keys()) used.add(port);
  return used;
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

const hostFree = async (port: number) => (await bindable(port, '0.0.0.0')) && (await bindable(port, '127.0.0.1'));

/**
 * Base ports for `count` disjoint classes of `students` students each, whose every published port (smtp, pop3,
 * imap, ssh, web of each student, as the plan gives them) is unused by the engines (published by any container,
 * running or stopped) and by the host (bindable on 0.0.0.0 and 127.0.0.1), and outside the kernel's ephemeral
 * range, and not held by another test process on this machine (RESERVED). The whole base-port range is searched, in
 * random order so that concurrent runs spread out. Another class
 * (td1 on 10100–11999, say) is never collided with, whatever its name and base.
 */
export async function freeBasePorts(
  students: number,
  count = 1,
  options: { engines?: Docker[] } = {},
): Promise<number[]> {
  const lab = await loadLab();
  const [ephemeralLow, ephemeralHigh] = ephemeralRange();
  const published = await enginePorts(options.engines ?? [new Docker()]);
  const portsOf = (base: number) =>
    Array.from({ length: students }, (_, i) => Object.values(studentPorts(lab, base, i + 1))).flat();
  // A class owns base + 100 .. base + (students + 1) * 100 - 1 (PORT_BLOCK ports per student).
  const span = (base: number): [number, number] => [base + PORT_BLOCK, base + (students + 1) * PORT_BLOCK - 1];

  const candidates: number[] = [];
  for (let base = MIN_BASE; base <= MAX_BASE; base += 250) {
    if (maxStudents(base) < students) continue;
    const ports = portsOf(base);
    if (ports.some((p) => p >= ephemeralLow && p <= ephemeralHigh)) continue;
    if (ports.some((p) => published.has(p))) continue;
    candidates.push(base);
  }
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
  }

  const bases = await reserving(async () => {
    const taken = reservedBlocks();
    const overlaps = ([a, b]: [number, number]) => taken.some(([c, d]) => a <= d && c <= b);
    const chosen: number[] = [];
    for (const base of candidates) {
      if (chosen.length === count) break;
      if (overlaps(span(base))) continue;
      const free = await Promise.all(portsOf(base).map(hostFree));
      if (!free.every(Boolean)) continue;
      reserve(span(base));
      taken.push(span(base));
      chosen.push(base);
    }
    return chosen;
  });
  if (bases.length < count) {
    throw new Error(
      `No ${count} free block(s) of ports for ${students} students: the engine's published ports, the host's bound ports and the ephemeral range ${ephemeralLow}–${ephemeralHigh} leave too little of ${MIN_BASE}–${MAX_BASE + PORT_BLOCK * (students + 1)}.`,
    );
  }
  return bases;
}

/** One free base port for a class of `students` (see freeBasePorts). */
export async function freeBasePort(students: number, options: { engines?: Docker[] } = {}): Promise<number> {
  return (await freeBasePorts(students, 1, options))[0]!;
}

/** A TCP port the kernel gives out as free right now (bind to 0, then close). */
export function freePort(host = '0.0.0.0'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
