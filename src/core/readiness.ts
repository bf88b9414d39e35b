import net from 'node:net';
import tls from 'node:tls';
import type { Endpoint } from './ports.js';
import type { Protocol, TlsMode } from './services.js';
import { SidecarClient } from './sidecar-client.js';

/**
 * Readiness, as testcontainers' wait strategies: what a student's server answers once it is up. Each endpoint has
 * one strategy: the greeting a student would see (SMTP 220, POP3 +OK, IMAP * OK, SSH-, after a TLS handshake on a
 * port with implicit TLS), or the sidecar's /health. `up` waits until every port passes its strategy; `status` tries
 * each once.
 */
export interface WaitStrategy {
  /** One try: resolves to what answered (the greeting line, `HTTP 200`), or rejects saying what came instead. */
  check(host: string, port: number, timeoutMs: number): Promise<string>;
}

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

/** The TLS a greeting comes after: the class's CA and the server's name to check, else any certificate. */
export interface TlsCheck {
  ca?: string;
  servername?: string;
}

/** Connects (through TLS when `secure` is given), reads the first line, and says goodbye as a client would. */
export function forGreeting(service: string, banner: RegExp, goodbye?: string, secure?: TlsCheck): WaitStrategy {
  return {
    check: (host, port, timeoutMs) =>
      new Promise((resolve, reject) => {
        const socket = secure
          ? tls.connect({
              host,
              port,
              ...(secure.servername && { servername: secure.servername }),
              ...(secure.ca ? { ca: secure.ca } : { rejectUnauthorized: false }),
            })
          : net.connect({ host, port });
        let data = '';
        let saidGoodbye = false;
        let lingering = false;
        // Over TLS the goodbye went before the greeting: the server answers it once it has greeted, and counts it
        // only if that answer reaches the probe (Postfix logs `quit=0/1` otherwise: a session closed without a
        // command). So the probe, done, stays until the server closes, 10 s at most, in the background.
        const linger = () => {
          if (lingering) return;
          lingering = true;
          socket.on('data', () => {});
          const cut = setTimeout(() => socket.destroy(), 10_000);
          cut.unref();
          socket.once('close', () => clearTimeout(cut));
        };
        const done = (error?: Error) => {
          clearTimeout(timer);
          if (!error) return;
          reject(error);
          if (saidGoodbye && !socket.destroyed) linger();
          else socket.destroy();
        };
        const timer = setTimeout(
          () => done(new Error(`no ${service} greeting from ${host}:${port} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        socket.setEncoding('utf8');
        // Over TLS, goodbye is said as soon as the handshake is done, before the greeting: a try that times out
        // after the handshake must not leave a session that closed without a command (what a student reading the
        // server's certificate does, which a lab may credit). A server reads it after its greeting, as pipelining.
        if (secure && goodbye)
          socket.once('secureConnect', () => {
            socket.write(goodbye);
            saidGoodbye = true;
          });
        socket.on('data', (chunk: string) => {
          data += chunk;
          const line = data.split(/\r?\n/)[0] ?? '';
          if (!data.includes('\n')) return;
          if (lingering) return;
          if (banner.test(line)) {
            done();
            if (saidGoodbye) linger();
            else if (goodbye) socket.end(goodbye);
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

/**
 * Each protocol's greeting, and what its client says to leave. After a graded session's end a server greets with its
 * French refusal (images/mail/session.sh): it is up, and readiness takes that as an answer.
 */
const GREETINGS: Record<Protocol, { banner: RegExp; goodbye?: string }> = {
  smtp: { banner: /^220[ -]|^554[ -].*La séance est terminée/, goodbye: 'QUIT\r\n' },
  pop3: { banner: /^\+OK|^-ERR La séance est terminée/, goodbye: 'QUIT\r\n' },
  imap: { banner: /^\* OK|^\* BYE La séance est terminée/, goodbye: 'a LOGOUT\r\n' },
  ssh: { banner: /^SSH-/ },
};

/** The greeting of an endpoint known by its name alone (smtp, pop3, imap, ssh, web): plain, as in the first TD. */
export function greetingOf(endpoint: Endpoint): Greeting {
  if (endpoint !== 'web' && !(endpoint in GREETINGS))
    throw new Error(`no greeting known for ${endpoint}: give its protocol (the lab's services say it)`);
  return { protocol: endpoint as Greeting['protocol'] };
}

/** The strategy of a greeting: its protocol's banner, after a TLS handshake where the service speaks TLS at once. */
export function waitFor(greeting: Greeting): WaitStrategy {
  if (greeting.protocol === 'web') return forHealth();
  const { banner, goodbye } = GREETINGS[greeting.protocol];
  if (greeting.tls !== 'implicit') return forGreeting(greeting.protocol, banner, goodbye);
  return forGreeting(`${greeting.protocol} (TLS)`, banner, goodbye, {
    ...(greeting.ca !== undefined && { ca: greeting.ca }),
    ...(greeting.servername !== undefined && { servername: greeting.servername }),
  });
}

const strategyOf = (endpoint: Endpoint | Greeting) =>
  waitFor(typeof endpoint === 'string' ? greetingOf(endpoint) : endpoint);

/** One try of the endpoint's strategy (what `status` shows): resolves to the greeting, or rejects. */
export async function probe(
  host: string,
  port: number,
  endpoint: Endpoint | Greeting,
  timeoutMs = 2000,
): Promise<string> {
  return strategyOf(endpoint).check(host, port, timeoutMs);
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
  endpoint: Endpoint | Greeting,
  deadline: Deadline,
  signal?: AbortSignal,
  intervalMs = 100,
): Promise<string> {
  const until = typeof deadline === 'number' ? () => deadline : deadline;
  let wait = intervalMs;
  const strategy = strategyOf(endpoint);
  let last: unknown;
  while (Date.now() < until()) {
    signal?.throwIfAborted();
    try {
      return await strategy.check(host, port, Math.min(2000, Math.max(100, until() - Date.now())));
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, wait));
      // Slower and slower (to half a second): a server that is slow to answer is short of CPU, which each try takes.
      wait = Math.min(500, wait * 1.5);
    }
  }
  const name = typeof endpoint === 'string' ? endpoint : endpoint.protocol;
  throw last instanceof Error ? last : new Error(`no ${name} greeting from ${host}:${port}`);
}
