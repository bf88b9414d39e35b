import net from 'node:net';
import type { Endpoint } from './ports.js';
import type { Service } from './services.js';
import { SidecarClient } from './sidecar-client.js';

/**
 * Readiness, as testcontainers' wait strategies: what a student's server answers once it is up. Each endpoint has
 * one strategy: the greeting a student would see (SMTP 220, POP3 +OK, IMAP * OK, SSH-), or the sidecar's /health.
 * `up` waits until every port passes its strategy; `status` tries each once.
 */
export interface WaitStrategy {
  /** One try: resolves to what answered (the greeting line, `HTTP 200`), or rejects saying what came instead. */
  check(host: string, port: number, timeoutMs: number): Promise<string>;
}

/** Connects, reads the first line, and says goodbye as a client of the protocol would. */
export function forGreeting(service: Service, banner: RegExp, goodbye?: string): WaitStrategy {
  return {
    check: (host, port, timeoutMs) =>
      new Promise((resolve, reject) => {
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
          if (banner.test(line)) {
            done();
            if (goodbye) socket.end(goodbye);
            else socket.end();
            resolve(line);
          } else {
            done(new Error(`unexpected ${service} greeting from ${host}:${port}: ${line}`));
          }
        });
        socket.on('error', (error) => done(error));
        socket.on('close', () => done(new Error(`${host}:${port} closed the connection before a ${service} greeting`)));
      }),
  };
}

/** The sidecar's /health answers 200 (it polls, and can save what it credits). */
export function forHealth(): WaitStrategy {
  return { check: (host, port, timeoutMs) => new SidecarClient({ host, port }).health(timeoutMs) };
}

export const WAIT: Record<Endpoint, WaitStrategy> = {
  smtp: forGreeting('smtp', /^220[ -]/, 'QUIT\r\n'),
  pop3: forGreeting('pop3', /^\+OK/, 'QUIT\r\n'),
  imap: forGreeting('imap', /^\* OK/, 'a LOGOUT\r\n'),
  ssh: forGreeting('ssh', /^SSH-/),
  web: forHealth(),
};

/** One try of the endpoint's strategy (what `status` shows): resolves to the greeting, or rejects. */
export function probe(host: string, port: number, endpoint: Endpoint, timeoutMs = 2000): Promise<string> {
  return WAIT[endpoint].check(host, port, timeoutMs);
}

/** A time (ms since the epoch), or one read afresh at each try: a deadline that may move later while waiting. */
export type Deadline = number | (() => number);

/**
 * Tries the endpoint's strategy until it passes, the deadline passes, or `signal` stops the wait; `intervalMs`
 * after the first try, half as long again after each (at most half a second). Rejects with the last try's error.
 */
export async function waitUntilReady(
  host: string,
  port: number,
  endpoint: Endpoint,
  deadline: Deadline,
  signal?: AbortSignal,
  intervalMs = 100,
): Promise<string> {
  const until = typeof deadline === 'number' ? () => deadline : deadline;
  let wait = intervalMs;
  let last: unknown;
  while (Date.now() < until()) {
    signal?.throwIfAborted();
    try {
      return await probe(host, port, endpoint, Math.min(2000, Math.max(100, until() - Date.now())));
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, wait));
      // Slower and slower (to half a second): a server that is slow to answer is short of CPU, which each try takes.
      wait = Math.min(500, wait * 1.5);
    }
  }
  throw last instanceof Error ? last : new Error(`no ${endpoint} greeting from ${host}:${port}`);
}
