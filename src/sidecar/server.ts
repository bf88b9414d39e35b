import http from 'node:http';
import type { Socket } from 'node:net';
import { SIDECAR_HTTP_LIMITS } from '../core/limits.js';
import { sameSecret } from '../core/token.js';
import {
  HealthSchema,
  ProgressSchema,
  WireErrorSchema,
  type Health,
  type Progress,
  type WireError,
} from '../core/wire.js';
import { renderPage } from './page.js';
import type { Sidecar } from './sidecar.js';
import { attachTerminal, isTerminalAsset, serveTerminalAsset } from './terminal.js';

type Access = 'none' | 'student' | 'labctl';

/** Who is asking: labctl (Bearer: this sidecar's admin key) or the student (the key of their page address). */
function access(req: http.IncomingMessage, url: URL, sidecar: Sidecar): Access {
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (sameSecret(bearer, sidecar.config.adminKey)) return 'labctl';
  const key = url.searchParams.get('k') ?? (req.headers['x-labctl-key'] as string | undefined);
  return sameSecret(key ?? undefined, sidecar.config.studentKey) ? 'student' : 'none';
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
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
 * /health is open. The page, the JSON API and the live stream need the student's key or labctl's admin
 * key for this sidecar; resetting progress needs the admin key. Each sidecar only ever holds its own student's data.
 */
export function createServer(sidecar: Sidecar): http.Server {
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
    const who = access(req, url, sidecar);
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /health') {
      return answer.health(res, { ...sidecar.health(), student: sidecar.config.card.student });
    }
    if (route === 'POST /api/reset-progress') {
      if (who !== 'labctl')
        return answer.error(res, 401, { error: "this sidecar's admin key is needed to reset progress" });
      return void sidecar.resetProgress().then(
        () => answer.progress(res, sidecar.progress()),
        (error: Error) => answer.error(res, 500, { error: error.message }),
      );
    }
    if (req.method !== 'GET') return answer.error(res, 405, { error: 'method not allowed' });
    if (sidecar.config.terminal && isTerminalAsset(url.pathname))
      return void serveTerminalAsset(url.pathname, res, () => answer.error(res, 404, { error: 'not found' }));
    if (!['/', '/api/progress', '/api/stream'].includes(url.pathname))
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
    if (url.pathname === '/')
      return send(
        res,
        200,
        'text/html; charset=utf-8',
        renderPage(sidecar.config, sidecar.progress(), sidecar.config.studentKey),
      );
    if (url.pathname === '/api/progress') return answer.progress(res, sidecar.progress());
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`data: ${JSON.stringify(ProgressSchema.parse(sidecar.progress()))}\n\n`);
    streams.add(res);
    req.on('close', () => streams.delete(res));
  });
  server.on('close', () => clearInterval(keepAlive));
  limitConnections(server, limits);
  // The terminal in the page: a WebSocket upgrade, with the page's own access rule.
  if (sidecar.config.terminal) {
    attachTerminal(server, sidecar.config.terminal, (req, url) => access(req, url, sidecar) !== 'none');
  }
  return server;
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
