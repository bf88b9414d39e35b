import net from 'node:net';
import type { Service } from './core/lab.js';
import { SidecarClient } from './core/sidecar-client.js';
import type { Endpoint } from './core/ports.js';

const BANNER: Record<Service, RegExp> = {
  smtp: /^220[ -]/,
  pop3: /^\+OK/,
  imap: /^\* OK/,
  ssh: /^SSH-/,
};
const GOODBYE: Partial<Record<Service, string>> = { smtp: 'QUIT\r\n', pop3: 'QUIT\r\n', imap: 'a LOGOUT\r\n' };

/**
 * Connects and reads the greeting a student would see: 220, +OK, * OK or SSH- (or the sidecar's
 * /health). Resolves to it, or rejects.
 */
export function probe(host: string, port: number, service: Endpoint, timeoutMs = 2000): Promise<string> {
  if (service === 'web') return new SidecarClient({ host, port }).health(timeoutMs);
  return probeMail(host, port, service, timeoutMs);
}

function probeMail(host: string, port: number, service: Service, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let data = '';
    const done = (error?: Error) => {
      clearTimeout(timer);
      if (error) {
        socket.destroy();
        reject(error);
      }
    };
    const timer = setTimeout(
      () => done(new Error(`no ${service} greeting from ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const line = data.split(/\r?\n/)[0] ?? '';
      if (!data.includes('\n')) return;
      if (BANNER[service].test(line)) {
        done();
        const bye = GOODBYE[service];
        if (bye) socket.end(bye);
        else socket.end();
        resolve(line);
      } else {
        done(new Error(`unexpected ${service} greeting from ${host}:${port}: ${line}`));
      }
    });
    socket.on('error', (error) => done(error));
    socket.on('close', () => done(new Error(`${host}:${port} closed the connection before a ${service} greeting`)));
  });
}

/** Probes until the greeting comes, the deadline passes, or `signal` stops the wait; `intervalMs` between tries. */
export async function waitForGreeting(
  host: string,
  port: number,
  service: Endpoint,
  deadline: number,
  signal?: AbortSignal,
  intervalMs = 100,
): Promise<string> {
  let last: unknown;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    try {
      return await probe(host, port, service, Math.min(2000, Math.max(100, deadline - Date.now())));
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
  throw last instanceof Error ? last : new Error(`no ${service} greeting from ${host}:${port}`);
}
