import http from 'node:http';
import { sameSecret } from '../core/token.js';
import { usageError } from '../errors.js';
import { boardPage, type BoardView } from './board-page.js';
import { keyCookie, newNonce, pageHeaders, plainHeaders, readCookie } from '../core/web.js';

const COOKIE = 'labctl_board';

export const isLoopbackListen = (listen: string) => /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(listen);

/**
 * The Host headers a board on loopback answers. A web page the instructor opens could point its own name at
 * 127.0.0.1 (DNS rebinding) and read the board; its requests carry that name, so they are refused.
 */
export function loopbackHosts(listen: string, port: number): Set<string> {
  const own = listen.includes(':') ? `[${listen}]` : listen;
  const names = ['127.0.0.1', 'localhost', '[::1]', own];
  return new Set([...names.map((n) => `${n}:${port}`), ...(port === 80 ? names : [])]);
}

export interface BoardServerOptions {
  /** What the board shows now; asked every `interval` ms, pushed to the pages when it changes. */
  ask: () => Promise<BoardView>;
  listen: string;
  port: number;
  /** The board key, needed off loopback (empty on loopback). */
  key: string;
  interval: number;
  /** Stops the server: its pages and streams are closed. */
  signal: AbortSignal;
}

/**
 * The instructor's live board: students × exercises, pushed to the page as results come in. It sends only what the
 * board shows (BoardView). On loopback it answers only requests addressed to loopback (Host header); elsewhere every
 * request needs the board key: the printed address carries it once, the answer moves it into a cookie and sends the
 * browser to an address without it. The board key is read-only: it opens this page and nothing else. Resolves once
 * listening, with the port; the server runs until `signal` aborts.
 */
export async function serveBoard(options: BoardServerOptions): Promise<{ server: http.Server; port: number }> {
  const needsKey = options.key !== '';
  let current = await options.ask();
  let last = JSON.stringify(current);
  let allowedHosts = new Set<string>();
  const streams = new Set<http.ServerResponse>();
  const refresh = async () => {
    try {
      current = await options.ask();
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
  }, options.interval);

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
    if (needsKey && !sameSecret(inAddress ?? readCookie(req.headers.cookie, COOKIE), options.key)) {
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
        'set-cookie': keyCookie(COOKIE, options.key, 'Lax'),
        'cache-control': 'no-store',
      });
      return res.end();
    }
    if (url.pathname === '/') {
      const nonce = newNonce();
      res.writeHead(200, {
        ...pageHeaders(nonce),
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
  const stop = () => {
    for (const res of streams) res.end();
    server.close();
    server.closeAllConnections();
  };
  server.on('close', () => {
    clearInterval(timer);
    options.signal.removeEventListener('abort', stop);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      clearInterval(timer);
      reject(
        error.code === 'EADDRINUSE'
          ? usageError(`Port ${options.port} is in use on ${options.listen}.`, 'Choose another --port.')
          : error,
      );
    });
    server.listen(options.port, options.listen, resolve);
  });
  const { port } = server.address() as { port: number };
  allowedHosts = loopbackHosts(options.listen, port);
  if (options.signal.aborted) stop();
  else options.signal.addEventListener('abort', stop, { once: true });
  return { server, port };
}
