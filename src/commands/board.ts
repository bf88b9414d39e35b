import http from 'node:http';
import { classBoard } from '../core/board-model.js';
import { boardKey, classToken, sameSecret } from '../core/token.js';
import { usageError } from '../errors.js';
import { boardPage, boardView, type BoardView } from '../ui/board-page.js';
import { keyCookie, newNonce, pageHeaders, plainHeaders, readCookie } from '../core/web.js';
import { DEFAULT_CLASS, defaultContext, type Context } from './context.js';

export interface BoardOptions {
  className?: string;
  port?: number;
  listen?: string;
  /** How often the sidecars are asked, in ms. */
  interval?: number;
  /** Minutes without progress before a student is marked stuck (default 15). */
  stuck?: number;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
const COOKIE = 'labctl_board';

/**
 * The Host headers a board on loopback answers. A web page the instructor opens could point its own name at
 * 127.0.0.1 (DNS rebinding) and read the board; its requests carry that name, so they are refused.
 */
export function loopbackHosts(listen: string, port: number): Set<string> {
  const own = listen.includes(':') ? `[${listen}]` : listen;
  const names = ['127.0.0.1', 'localhost', '[::1]', own];
  return new Set([...names.map((n) => `${n}:${port}`), ...(port === 80 ? names : [])]);
}

/**
 * The instructor's live board: students × exercises, from the sidecars, pushed to the page as results
 * come in. It sends only what the board shows (see BoardView). On loopback it answers only requests addressed to
 * loopback (Host header); elsewhere every request needs the board key: the printed address carries it once, the
 * answer moves it into a cookie and sends the browser to an address without it. The board key is read-only: it
 * opens this page and nothing else, reveals no password, and no sidecar accepts it.
 */
export async function board(
  options: BoardOptions,
  ctx: Context = defaultContext({ className: options.className ?? DEFAULT_CLASS }),
): Promise<http.Server> {
  const className = options.className ?? DEFAULT_CLASS;
  const listen = options.listen ?? '127.0.0.1';
  await ctx.engine.ping();
  const ask = async () =>
    boardView(
      await classBoard(className, ctx.engine, { ...(options.stuck !== undefined && { stuckMinutes: options.stuck }) }),
    );
  let current: BoardView = await ask();
  const token = classToken((await ctx.engine.list(className)).containers);
  const needsKey = !LOOPBACK.test(listen);
  if (needsKey && !token)
    throw usageError(`Class ${className} has no token to protect a board on ${listen}.`, 'Run `labctl up` first.');
  const key = needsKey ? boardKey(token!) : '';
  let allowedHosts = new Set<string>();

  const streams = new Set<http.ServerResponse>();
  let last = JSON.stringify(current);
  const refresh = async () => {
    try {
      current = await ask();
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
    const text = (status: number, body: string) => {
      res.writeHead(status, { ...plainHeaders(), 'content-type': 'text/plain; charset=utf-8' });
      res.end(body);
    };
    if (!needsKey && !allowedHosts.has((req.headers.host ?? '').toLowerCase())) {
      return text(421, 'This board answers only addresses on loopback, such as http://127.0.0.1:PORT/.\n');
    }
    const inAddress = url.searchParams.get('key');
    if (needsKey && !sameSecret(inAddress ?? readCookie(req.headers.cookie, COOKIE), key)) {
      return text(401, 'The board key is needed: open the address `labctl board` printed.\n');
    }
    if (needsKey && inAddress !== null) {
      // The key goes into the cookie, and out of the address bar, the history and the projected screen.
      url.searchParams.delete('key');
      res.writeHead(303, {
        ...plainHeaders(),
        location: `${url.pathname}${url.search}`,
        // Lax: an address followed from another site (a mail, a chat) still carries the cookie through the redirect.
        // The board only shows, so a request another site makes can change nothing.
        'set-cookie': keyCookie(COOKIE, key, 'Lax'),
        'cache-control': 'no-store',
      });
      return res.end();
    }
    if (url.pathname === '/') {
      const nonce = newNonce();
      res.writeHead(200, {
        ...pageHeaders(nonce),
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
      });
      return res.end(boardPage(current, '/api/stream', nonce));
    }
    if (url.pathname === '/api/board') {
      res.writeHead(200, {
        ...plainHeaders(),
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
      });
      return res.end(last);
    }
    if (url.pathname === '/api/stream') {
      res.writeHead(200, {
        ...plainHeaders(),
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
  allowedHosts = loopbackHosts(listen, address.port);
  const shown = listen === '0.0.0.0' || listen === '::' ? 'THIS-HOST' : listen.includes(':') ? `[${listen}]` : listen;
  const url = `http://${shown}:${address.port}/${needsKey ? `?key=${key}` : ''}`;
  ctx.reporter.result(`Class board for ${className}: ${url}`, { class: className, url });
  ctx.reporter.info('Ctrl-C to stop.');
  const stop = () => {
    for (const res of streams) res.end();
    server.close();
    server.closeAllConnections();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  server.on('close', () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  });
  return server;
}
