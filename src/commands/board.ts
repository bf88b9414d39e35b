import http from 'node:http';
import { classToken, sameSecret } from '../core/token.js';
import { usageError } from '../errors.js';
import { boardPage } from '../ui/board-page.js';
import { classBoard, type Board } from './check.js';
import { DEFAULT_CLASS, defaultContext, type Context } from './context.js';

export interface BoardOptions {
  className?: string;
  port?: number;
  listen?: string;
  /** How often the sidecars are asked, in ms. */
  interval?: number;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * The instructor's live board: students × exercises, from the sidecars, pushed to the page as results
 * come in. It listens on loopback; elsewhere it needs the class token (?token=) on every request.
 */
export async function board(options: BoardOptions, ctx: Context = defaultContext()): Promise<http.Server> {
  const className = options.className ?? DEFAULT_CLASS;
  const listen = options.listen ?? '127.0.0.1';
  await ctx.engine.ping();
  let current: Board = await classBoard(className, ctx.engine);
  const token = classToken((await ctx.engine.list(className)).containers);
  const needsToken = !LOOPBACK.test(listen);
  if (needsToken && !token)
    throw usageError(`Class ${className} has no token to protect a board on ${listen}.`, 'Run `labctl up` first.');

  const streams = new Set<http.ServerResponse>();
  let last = JSON.stringify(current);
  const refresh = async () => {
    try {
      current = await classBoard(className, ctx.engine);
    } catch {
      return; // the engine hiccuped: keep the last board
    }
    const next = JSON.stringify(current);
    if (next === last) return;
    last = next;
    for (const res of streams) res.write(`data: ${next}\n\n`);
  };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void refresh().finally(() => (busy = false));
  }, options.interval ?? 1000);

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://board');
    if (needsToken && !sameSecret(url.searchParams.get('token') ?? undefined, token!)) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' });
      return res.end('The class token is needed: open the address `labctl board` printed.\n');
    }
    const suffix = needsToken ? `?token=${encodeURIComponent(token!)}` : '';
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(boardPage(current, `/api/stream${suffix}`));
    }
    if (url.pathname === '/api/board') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      return res.end(last);
    }
    if (url.pathname === '/api/stream') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`data: ${last}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    res.writeHead(404).end();
  });
  server.on('close', () => clearInterval(timer));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? usageError(`Port ${options.port} is in use on ${listen}.`, 'Choose another --port.')
          : error,
      ),
    );
    server.listen(options.port ?? 8090, listen, resolve);
  });
  const address = server.address() as { port: number };
  const shown = listen === '0.0.0.0' || listen === '::' ? 'THIS-HOST' : listen.includes(':') ? `[${listen}]` : listen;
  process.stdout.write(
    `Class board for ${className}: http://${shown}:${address.port}/${needsToken ? `?token=${token}` : ''}\n`,
  );
  ctx.reporter.info('Ctrl-C to stop.');
  const stop = () => {
    for (const res of streams) res.end();
    server.close();
    server.closeAllConnections();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return server;
}
