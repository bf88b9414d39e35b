import http from 'node:http';
import type { Socket } from 'node:net';
import { SIDECAR_HTTP_LIMITS } from '../core/limits.js';
import { sameSecret } from '../core/token.js';
import {
  HealthSchema,
  ProgressSchema,
  SessionSchema,
  WireErrorSchema,
  type Health,
  type Progress,
  type WireError,
} from '../core/wire.js';
import { keyCookie, newNonce, pageHeaders, plainHeaders, readCookie } from '../core/web.js';
import type { SidecarConfig } from './config.js';
import { readListeners } from './listeners.js';
import { renderPage } from './page.js';
import type { Sidecar } from './sidecar.js';
import { attachTerminal, isTerminalAsset, serveTerminalAsset } from './terminal.js';

type Access = 'none' | 'student' | 'labctl';

/**
 * The cookie that holds the student's key once their page has it. Cookies ignore ports, so every sidecar of the host
 * names its own: a shared PC keeps each student's key apart, and no sidecar reads another's.
 */
export function keyCookieName(config: SidecarConfig): string {
  return `labctl_${config.card.className}_s${String(config.card.student).padStart(2, '0')}`.replace(
    /[^A-Za-z0-9_-]/g,
    '_',
  );
}

/**
 * Who is asking: labctl (Bearer: this sidecar's admin key) or the student (the key of their page address, in the
 * address, a header, or the cookie their page set).
 */
function access(req: http.IncomingMessage, url: URL, config: SidecarConfig): Access {
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (sameSecret(bearer, config.adminKey)) return 'labctl';
  return studentAsks(req, url, config) ? 'student' : 'none';
}

function studentAsks(req: http.IncomingMessage, url: URL, config: SidecarConfig): boolean {
  const header = req.headers['x-labctl-key'];
  const given = [
    url.searchParams.get('k'),
    typeof header === 'string' ? header : null,
    readCookie(req.headers.cookie, keyCookieName(config)),
  ];
  return given.some((key) => key != null && sameSecret(key, config.studentKey));
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...plainHeaders(), 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const json = (res: http.ServerResponse, status: number, data: unknown) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(data));

/** Every JSON answer is checked against the wire schema labctl parses it with (src/core/wire.ts). */
const answer = {
  progress: (res: http.ServerResponse, data: Progress) => json(res, 200, ProgressSchema.parse(data)),
  health: (res: http.ServerResponse, data: Health) =>
    json(res, data.status === 'ok' ? 200 : 503, HealthSchema.parse(data)),
  error: (res: http.ServerResponse, status: number, data: WireError) => json(res, status, WireErrorSchema.parse(data)),
};

/**
 * /health is open (its ?poll costs what any connection to the student's server costs: a poll). The page, the JSON API and the live stream need the student's key or labctl's admin
 * key for this sidecar; resetting progress needs the admin key. Each sidecar only ever holds its own student's data.
 */
export function createServer(sidecar: Sidecar, options: { wake?: () => void } = {}): http.Server {
  const streams = new Set<http.ServerResponse>();
  sidecar.on('change', () => {
    const data = `data: ${JSON.stringify(ProgressSchema.parse(sidecar.progress()))}\n\n`;
    for (const res of streams) res.write(data);
  });
  const keepAlive = setInterval(() => streams.forEach((res) => res.write(': keep-alive\n\n')), 15_000);
  keepAlive.unref();

  const limits = SIDECAR_HTTP_LIMITS;
  const server = http.createServer({ connectionsCheckingInterval: limits.checkIntervalMs }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://sidecar');
    const who = access(req, url, sidecar.config);
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /health') {
      // ?poll asks for a poll soon (as a change in the evidence would): a test waits on the count, not on the idle period.
      if (url.searchParams.has('poll')) options.wake?.();
      return void readListeners(sidecar.config.listenersFile).then((listeners) =>
        answer.health(res, {
          ...sidecar.health(),
          student: sidecar.config.card.student,
          polls: sidecar.stats().polls,
          ...(listeners && { listeners }),
        }),
      );
    }
    if (route === 'POST /api/reset-progress') {
      if (who !== 'labctl')
        return answer.error(res, 401, { error: "this sidecar's admin key is needed to reset progress" });
      return void sidecar.resetProgress().then(
        () => answer.progress(res, sidecar.progress()),
        (error: Error) => answer.error(res, 500, { error: error.message }),
      );
    }
    if (route === 'POST /api/session') {
      if (who !== 'labctl')
        return answer.error(res, 401, { error: "this sidecar's admin key is needed to set the session" });
      return void readJson(req).then(
        (body) => {
          const session = SessionSchema.safeParse(body);
          if (!session.success || (session.data.end !== null && Number.isNaN(Date.parse(session.data.end))))
            return answer.error(res, 400, { error: 'expected {"end": ISO time or null, "endText": "16:00"}' });
          return sidecar.setSession(session.data).then(
            () => answer.progress(res, sidecar.progress()),
            (error: Error) => answer.error(res, 500, { error: error.message }),
          );
        },
        (error: Error) => answer.error(res, 400, { error: error.message }),
      );
    }
    if (req.method !== 'GET') return answer.error(res, 405, { error: 'method not allowed' });
    if (sidecar.config.terminal && isTerminalAsset(url.pathname))
      return void serveTerminalAsset(url.pathname, res, () => answer.error(res, 404, { error: 'not found' }));
    if (
      !['/', '/api/progress', '/api/stream', '/ca.pem'].includes(url.pathname) ||
      (url.pathname === '/ca.pem' && !sidecar.config.card.ca)
    )
      return answer.error(res, 404, { error: 'not found' });
    if (who === 'none') {
      return url.pathname === '/'
        ? send(
            res,
            403,
            'text/html; charset=utf-8',
            '<!doctype html><meta charset="utf-8"><p>Lien incomplet : ouvrez l’adresse indiquée sur votre fiche (elle contient votre clé).</p>',
          )
        : answer.error(res, 403, { error: "a student key (?k=) or labctl's admin key is needed" });
    }
    if (url.pathname === '/') {
      // The student's key moves into a cookie; the page then takes it out of the address bar (replaceState).
      const nonce = newNonce();
      res.writeHead(200, {
        ...pageHeaders(nonce),
        ...(who === 'student' && { 'set-cookie': keyCookie(keyCookieName(sidecar.config), sidecar.config.studentKey) }),
      });
      return res.end(renderPage(sidecar.config, sidecar.progress(), nonce));
    }
    if (url.pathname === '/api/progress') return answer.progress(res, sidecar.progress());
    if (url.pathname === '/ca.pem') return send(res, 200, 'application/x-pem-file', sidecar.config.card.ca!);
    res.writeHead(200, {
      ...plainHeaders(),
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(`data: ${JSON.stringify(ProgressSchema.parse(sidecar.progress()))}\n\n`);
    streams.add(res);
    req.on('close', () => streams.delete(res));
  });
  server.on('close', () => clearInterval(keepAlive));
  limitConnections(server, limits);
  // The terminal in the page: a WebSocket upgrade, for the student's key only (labctl's admin key opens no shell).
  if (sidecar.config.terminal) {
    attachTerminal(server, sidecar.config.terminal, (req, url) => studentAsks(req, url, sidecar.config), sidecar);
  }
  return server;
}

/** A small JSON body (labctl's), read whole; anything over 4 KiB or not JSON is refused. */
function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 4096) {
        reject(new Error('the body is over 4 KiB'));
        req.destroy();
      }
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error('the body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

/**
 * Connections held open (idle sockets, half-sent headers, streams) cannot lock a student out of their page: one
 * address may hold `perSource` of them, everyone `total`, and a request must send its headers and body in time.
 */
export function limitConnections(server: http.Server, limits: typeof SIDECAR_HTTP_LIMITS): void {
  server.maxConnections = limits.total;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  const bySource = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const source = socket.remoteAddress ?? '';
    const held = bySource.get(source) ?? 0;
    if (held >= limits.perSource) return void socket.destroy();
    bySource.set(source, held + 1);
    socket.once('close', () => {
      const left = (bySource.get(source) ?? 1) - 1;
      if (left > 0) bySource.set(source, left);
      else bySource.delete(source);
    });
  });
}
