import { readFileSync } from 'node:fs';
import type { Service } from './services.js';

/**
 * Every student owns a block of this many host ports. 100 (not 1000) so that a class of 150 fits on one address
 * well below the kernel's ephemeral range, while a port still ends like its service (SMTP in ..25, POP3 in ..10).
 */
export const PORT_BLOCK = 100;
export const DEFAULT_BASE_PORT = 10000;

/** The sidecar's page and API: container port 8080, host port base + n * 100 + 80. */
export const WEB_CONTAINER_PORT = 8080;
export const WEB_OFFSET = 80;

/** A service of the lab, or the progress page (web). */
export type Endpoint = Service;
export type PortMap = Record<Endpoint, number> & { web: number };

/**
 * The port plan: student n's port for a service is base + n * 100 + (container port mod 100), and their progress
 * page is at base + n * 100 + 80. So with the default base student 3 has SMTP on 10325, POP3 on 10310, IMAP on
 * 10343, ssh on 10322 and their progress page on 10380.
 */
export function studentPorts(lab: { services: Record<Service, number> }, basePort: number, student: number): PortMap {
  const block = basePort + student * PORT_BLOCK;
  const ports = {} as PortMap;
  for (const [service, port] of Object.entries(lab.services)) ports[service] = block + (port % PORT_BLOCK);
  ports.web = block + WEB_OFFSET;
  return ports;
}

/** The highest student number the plan can hold below port 65535 (554 from the default base). */
export function maxStudents(basePort: number): number {
  return Math.floor((65535 - basePort - (PORT_BLOCK - 1)) / PORT_BLOCK);
}

/**
 * Two endpoints of a lab that the plan would put on the same host port (their container ports are equal mod 100,
 * or one is 80 mod 100, the progress page's offset), or undefined when every endpoint has its own.
 */
export function portCollision(
  services: Record<Service, number>,
): { service: Service; port: number; other: Endpoint; otherPort: number } | undefined {
  const offsets = new Map<number, [Endpoint, number]>([[WEB_OFFSET, ['web', WEB_CONTAINER_PORT]]]);
  for (const [service, port] of Object.entries(services)) {
    const taken = offsets.get(port % PORT_BLOCK);
    if (taken) return { service, port, other: taken[0], otherPort: taken[1] };
    offsets.set(port % PORT_BLOCK, [service, port]);
  }
  return undefined;
}

/** Says which two endpoints collide, and why: "port 1025 maps to the same host port as smtp (port 25), ...". */
export function collisionText(c: NonNullable<ReturnType<typeof portCollision>>): string {
  const other =
    c.other === 'web'
      ? `the progress page (web, host port base + n*100 + ${WEB_OFFSET})`
      : `${c.other} (port ${c.otherPort})`;
  return `port ${c.port} maps to the same host port as ${other}: host ports are base + n*100 + (container port mod ${PORT_BLOCK})`;
}

/** "smtp=10125,pop3=10110,..." as kept in a container label. */
export function formatPorts(ports: Partial<Record<string, number>>): string {
  return Object.entries(ports)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function parsePorts(label: string | undefined): Record<string, number> {
  const ports: Record<string, number> = {};
  for (const part of (label ?? '').split(',')) {
    const [k, v] = part.split('=');
    if (k && v && /^\d+$/.test(v)) ports[k] = Number(v);
  }
  return ports;
}

/** The kernel's ephemeral port range, [low, high], or undefined when it cannot be read (not Linux). */
export function readEphemeralRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] | undefined {
  try {
    const [low, high] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    if (low && high && low <= high) return [low, high];
  } catch {
    // not Linux, or not readable
  }
  return undefined;
}

/**
 * The planned ports that fall inside the ephemeral range [low, high], where the kernel may hand one to an outgoing
 * connection at any moment (and `up` then finds it taken): their count and the lowest and highest of them.
 */
export function ephemeralOverlap(
  ports: Iterable<number>,
  [low, high]: [number, number],
): { count: number; first: number; last: number } | undefined {
  let count = 0;
  let first = Infinity;
  let last = -Infinity;
  for (const port of ports) {
    if (port < low || port > high) continue;
    count++;
    first = Math.min(first, port);
    last = Math.max(last, port);
  }
  return count > 0 ? { count, first, last } : undefined;
}

/**
 * The warning `up` prints when a plan reaches into the ephemeral range, with the two ways out: a lower
 * --base-port, or the range moved above (or below) the plan with sysctl. Undefined when nothing overlaps.
 */
export function ephemeralWarning(
  ports: number[],
  plan: { basePort: number; students: number },
  range: [number, number],
): string | undefined {
  const overlap = ephemeralOverlap(ports, range);
  if (!overlap) return undefined;
  const [low, high] = range;
  const start = plan.basePort + PORT_BLOCK;
  const end = plan.basePort + (plan.students + 1) * PORT_BLOCK - 1;
  const lowerBase = low - (plan.students + 1) * PORT_BLOCK;
  const base =
    lowerBase >= 1024
      ? `a lower --base-port (${lowerBase} or less keeps the ${plan.students} students' ports, base + 100 to base + ${(plan.students + 1) * PORT_BLOCK - 1}, below ${low})`
      : `a lower --base-port (the plan must end below ${low})`;
  // Move the range off the plan: above it if that leaves at least 10,000 ports, else below it, else to its top.
  const moved =
    high - end >= 10_000
      ? `${end + 1} ${high}`
      : start - 1 - low >= 10_000
        ? `${low} ${start - 1}`
        : `${end + 1} 65535`;
  return (
    `${overlap.count} of this class's host ports (${overlap.first}–${overlap.last}) are in the kernel's ephemeral ` +
    `range ${low}–${high}, where outgoing connections take their local ports: one may be taken when \`up\` ` +
    `publishes it. Use ${base}, or move the range off the plan (as root): ` +
    `sysctl -w net.ipv4.ip_local_port_range="${moved}" (and in /etc/sysctl.d/ to keep it).`
  );
}
