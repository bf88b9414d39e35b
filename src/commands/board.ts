import type http from 'node:http';
import { boardOf } from '../core/board-model.js';
import { observeClass } from '../core/observed-class.js';
import { boardKey } from '../core/token.js';
import { usageError } from '../errors.js';
import { boardView } from '../ui/board-page.js';
import { isLoopbackListen, serveBoard } from '../ui/board-server.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export { loopbackHosts } from '../ui/board-server.js';

export interface BoardOptions extends RunOptions {
  className?: string;
  port?: number;
  listen?: string;
  /** How often the sidecars are asked, in ms. */
  interval?: number;
  /** Minutes without progress before a student is marked stuck (default 15). */
  stuck?: number;
}

/** Serves the live class board until Ctrl-C (see ui/board-server.ts); off loopback, behind the board key. */
export async function board(
  options: BoardOptions,
  ctx: Context = defaultContext({ ...options, className: options.className ?? DEFAULT_CLASS }),
): Promise<http.Server> {
  const className = options.className ?? DEFAULT_CLASS;
  const listen = options.listen ?? '127.0.0.1';
  await ctx.engine.ping();
  const stuck = options.stuck !== undefined ? { stuckMinutes: options.stuck } : {};
  const ask = async () => boardView(await boardOf(await observeClass(ctx.engine, className), stuck));
  const { token } = await observeClass(ctx.engine, className);
  const needsKey = !isLoopbackListen(listen);
  if (needsKey && !token)
    throw usageError(`Class ${className} has no token to protect a board on ${listen}.`, 'Run `labctl up` first.');
  const key = needsKey ? boardKey(token!) : '';
  const { server, port } = await serveBoard({
    ask,
    listen,
    port: options.port ?? 8090,
    key,
    interval: options.interval ?? 1000,
    signal: ctx.signal,
  });
  const shown = listen === '0.0.0.0' || listen === '::' ? 'THIS-HOST' : listen.includes(':') ? `[${listen}]` : listen;
  const url = `http://${shown}:${port}/${needsKey ? `?key=${key}` : ''}`;
  ctx.reporter.result(`Class board for ${className}: ${url}`, { class: className, url });
  ctx.reporter.info('Ctrl-C to stop.');
  return server;
}
