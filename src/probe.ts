import net from 'node:net';
import tls from 'node:tls';
import type { Protocol, TlsMode } from './core/lab.js';
import { SidecarClient } from './core/sidecar-client.js';

const BANNER: Record<Protocol, RegExp> = {
  smtp: /^220[ -]/,
  pop3: /^\+OK/,
  imap: /^\* OK/,
  ssh: /^SSH-/,
};
const GOODBYE: Partial<Record<Protocol, string>> = { smtp: 'QUIT\r\n', pop3: 'QUIT\r\n', imap: 'a LOGOUT\r\n' };

/**
 * What a port should answer: the greeting of its protocol, after a TLS handshake for a service with implicit TLS
 * (checked against `ca` for `servername` when given: the server shows the certificate the class's CA signed for it).
 */
export interface Greeting {
  protocol: Protocol | 'web';
  tls?: TlsMode;
  ca?: string;
  servername?: string;
}

/** The greeting of a service known by its name alone (smtp, pop3, imap, ssh, web). */
export function greetingOf(service: string): Greeting {
  return { protocol: service as Protocol | 'web' };
}

/**
 * Connects and reads the greeting a student would see: 220, +OK, * OK or SSH- (or the sidecar's
 * /health). Resolves to it, or rejects.
 */
export function probe(host: string, port: number, greeting: Greeting | string, timeoutMs = 2000): Promise<string> {
  const g = typeof greeting === 'string' ? greetingOf(greeting) : greeting;
  if (g.protocol === 'web') return new SidecarClient({ host, port }).health(timeoutMs);
  return probeMail(host, port, g as Greeting & { protocol: Protocol }, timeoutMs);
}

function probeMail(
  host: string,
  port: number,
  g: Greeting & { protocol: Protocol },
  timeoutMs: number,
): Promise<string> {
  const service = g.tls === 'implicit' ? `${g.protocol} (TLS)` : g.protocol;
  return new Promise((resolve, reject) => {
    const socket =
      g.tls === 'implicit'
        ? tls.connect({
            host,
            port,
            ...(g.servername && { servername: g.servername }),
            ...(g.ca ? { ca: g.ca } : { rejectUnauthorized: false }),
          })
        : net.connect({ host, port });
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
      if (BANNER[g.protocol].test(line)) {
        done();
        const bye = GOODBYE[g.protocol];
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
  greeting: Greeting | string,
  deadline: number,
  signal?: AbortSignal,
  intervalMs = 100,
): Promise<string> {
  let last: unknown;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    try {
      return await probe(host, port, greeting, Math.min(2000, Math.max(100, deadline - Date.now())));
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
  const name = typeof greeting === 'string' ? greeting : greeting.protocol;
  throw last instanceof Error ? last : new Error(`no ${name} greeting from ${host}:${port}`);
}
