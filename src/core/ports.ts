import type { Lab, Service } from './lab.js';
import { SERVICES } from './lab.js';

/** Every student owns a block of this many host ports. */
export const PORT_BLOCK = 1000;
export const DEFAULT_BASE_PORT = 10000;

/** The sidecar's page and API: container port 8080, host port base + n * 1000 + 80. */
export const WEB_CONTAINER_PORT = 8080;
export const WEB_OFFSET = 80;

export type Endpoint = Service | 'web';
export type PortMap = Record<Endpoint, number>;

/**
 * The port plan: student n's port for a service is base + n * 1000 + (container port mod 1000),
 * so with the default base student 3 has SMTP on 13025, POP3 on 13110, IMAP on 13143, ssh on 13022,
 * and their progress page on 13080.
 */
export function studentPorts(lab: Lab, basePort: number, student: number): PortMap {
  const block = basePort + student * PORT_BLOCK;
  const ports = {} as PortMap;
  for (const service of SERVICES) ports[service] = block + (lab.services[service] % PORT_BLOCK);
  ports.web = block + WEB_OFFSET;
  return ports;
}

/** The highest student number the plan can hold below port 65535. */
export function maxStudents(basePort: number): number {
  return Math.floor((65535 - basePort - (PORT_BLOCK - 1)) / PORT_BLOCK);
}

/** "smtp=11025,pop3=11110,..." as kept in a container label. */
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
