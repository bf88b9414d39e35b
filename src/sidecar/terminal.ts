import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import type { TerminalConfig } from './config.js';
import type { Asset } from './terminal-assets.js';
import { plainHeaders } from '../core/web.js';
import type { SessionPhase } from './sidecar.js';
import { endedShortText, endedText, warningText } from './session-text.js';

/**
 * The terminal in the student's page: a WebSocket from the page to this sidecar, and from here an ssh session
 * to the student's own mail server, as their first account, with the password on their card. It is exactly
 * what `ssh -p PORT util1@HOST` gives them: the same sshd, the same account, the same limits (pam_limits,
 * AllowTcpForwarding no, …), and nothing the sidecar credits depends on where a session came from.
 */

export const TERMINAL_PATH = '/api/terminal';
export const TERMINAL_ASSET_PREFIX = '/terminal/';

/** WebSocket close codes (4000–4999 are the application's), each with a French reason the page shows. */
export const CLOSE = {
  ended: 1000,
  tooMany: 4429,
  idle: 4408,
  tooLong: 4409,
  sessionEnded: 4410,
  sshFailed: 4502,
} as const;

/**
 * The student's session, as the sidecar holds it: the terminal warns in its last minutes, closes at its end, and
 * opens no more after it (the mail server refuses the login too).
 */
export interface SessionWatch {
  sessionPhase(): SessionPhase;
  sessionEndText(): string | undefined;
  sessionLeftMs(): number | undefined;
  on(event: 'phase', listener: (phase: SessionPhase) => void): unknown;
}

/** A line the sidecar writes into the terminal itself, in yellow, between brackets. */
const notice = (text: string) => Buffer.from(`\r\n\x1b[33m[${text}]\x1b[0m\r\n`);

/** ssh output waiting for a slow browser, beyond which the ssh channel is paused (`cat` of a 50 MiB mbox). */
const HIGH_WATER = 256 * 1024;
const LOW_WATER = 64 * 1024;
/** Keystrokes typed before the shell is ready are kept, up to this. */
const EARLY_INPUT_MAX = 64 * 1024;
const PING_MS = 30_000;

const minutes = (ms: number) => Math.round(ms / 60_000);

/** A close reason fits in 123 bytes of UTF-8, or ws throws. */
function reason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 120) out = out.slice(0, -1);
  return out;
}

function refuse(socket: Duplex, status: number, text: string, message: string): void {
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export const isTerminalAsset = (pathname: string) => pathname.startsWith(TERMINAL_ASSET_PREFIX);

let assets: Promise<Record<string, Asset>> | undefined;

/**
 * Serves xterm.js and its stylesheet to the page (public library code, no key needed). They are loaded with the first
 * page that asks (the bundle keeps them in a chunk of their own), so a sidecar starts without parsing them.
 */
export async function serveTerminalAsset(pathname: string, res: http.ServerResponse, notFound: () => void) {
  assets ??= import('./terminal-assets.js').then((m) => m.terminalAssets());
  const asset = (await assets)[pathname.slice(TERMINAL_ASSET_PREFIX.length)];
  if (!asset) return notFound();
  res.writeHead(200, { ...plainHeaders(), 'content-type': asset.type, 'cache-control': 'public, max-age=3600' });
  res.end(asset.body);
}

interface Libraries {
  Client: typeof Client;
  WebSocketServer: typeof WebSocketServer;
}
let libraries: Promise<Libraries> | undefined;

/** ssh2 and ws are loaded with the first terminal: an idle sidecar does not carry them (some 8 MiB of RSS). */
function load(): Promise<Libraries> {
  // CommonJS modules: in the bundle's chunks their exports may sit on `default` only.
  const commonJs = <T extends object>(m: T): T => (m as { default?: T }).default ?? m;
  libraries ??= Promise.all([import('ssh2'), import('ws')]).then(([ssh2, ws]) => ({
    Client: ssh2.Client ?? commonJs(ssh2).Client,
    WebSocketServer: ws.WebSocketServer ?? commonJs(ws).WebSocketServer,
  }));
  return libraries;
}

/**
 * Whether a WebSocket handshake comes from the page itself, or from a client that is no browser (which sends no
 * Origin, and cannot be made to by a web page). A page of another origin is refused, even one of the same site,
 * such as a classmate's page on another port of this host, whose requests carry this page's key cookie.
 */
export function sameOrigin(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === (req.headers.host ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/**
 * Adds the terminal's WebSocket to the sidecar's server. `allowed` says whether the student's key came with the
 * request: a page of another origin gets 403, anyone else without the key 401, before any WebSocket or ssh
 * connection exists.
 */
export function attachTerminal(
  server: http.Server,
  config: TerminalConfig,
  allowed: (req: http.IncomingMessage, url: URL) => boolean,
  session?: SessionWatch,
): { sessions: () => number } {
  let wss: WebSocketServer | undefined;
  const sessions = new Set<WebSocket>();
  const endText = () => session?.sessionEndText() ?? '';
  session?.on('phase', (phase) => {
    for (const ws of sessions) {
      if (phase === 'warning') ws.send(notice(warningText(endText(), session.sessionLeftMs() ?? 0)), { binary: true });
      if (phase === 'ended') {
        ws.send(notice(endedText(endText())), { binary: true });
        ws.close(CLOSE.sessionEnded, reason(endedShortText(endText())));
      }
    }
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://sidecar');
    if (url.pathname !== TERMINAL_PATH) return refuse(socket, 404, 'Not Found', 'not found');
    if (!sameOrigin(req)) return refuse(socket, 403, 'Forbidden', 'the terminal opens only from its own page');
    if (!allowed(req, url)) return refuse(socket, 401, 'Unauthorized', "the student's key is needed");
    load().then(
      (lib) => {
        wss ??= new lib.WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
        wss.handleUpgrade(req, socket, head, (ws) => {
          if (sessions.size >= config.maxSessions) {
            ws.close(
              CLOSE.tooMany,
              `Déjà ${config.maxSessions} terminaux ouverts (c’est le maximum) : fermez-en un, puis réessayez.`,
            );
            return;
          }
          if (session?.sessionPhase() === 'ended') {
            ws.close(CLOSE.sessionEnded, reason(endedShortText(endText())));
            return;
          }
          sessions.add(ws);
          ws.on('close', () => sessions.delete(ws));
          const warning =
            session?.sessionPhase() === 'warning' ? warningText(endText(), session.sessionLeftMs() ?? 0) : undefined;
          bridge(ws, config, lib.Client, warning);
        });
      },
      (error: Error) => refuse(socket, 500, 'Internal Server Error', `the terminal could not start: ${error.message}`),
    );
  });
  server.on('close', () => {
    for (const ws of sessions) ws.terminate();
  });
  return { sessions: () => sessions.size };
}

/** A terminal size the page sent, if it is one. */
function parseResize(text: string): { cols: number; rows: number } | undefined {
  try {
    const [cols, rows] = (JSON.parse(text) as { resize?: unknown[] }).resize ?? [];
    const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) < 1000;
    return ok(cols) && ok(rows) ? { cols, rows } : undefined;
  } catch {
    return undefined;
  }
}

/** One browser tab's terminal: its WebSocket and its ssh session live and die together. */
function bridge(ws: WebSocket, config: TerminalConfig, SshClient: typeof Client, warning?: string): void {
  const ssh = new SshClient();
  let shell: ClientChannel | undefined;
  let size = { cols: 80, rows: 24 };
  let early: Buffer[] = [];
  let earlyBytes = 0;
  let pending = 0;
  let alive = true;
  let idle: NodeJS.Timeout | undefined;

  const end = (code: number, why: string) => {
    clearTimeout(idle);
    clearTimeout(lifetime);
    clearInterval(ping);
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason(why));
    ssh.end();
  };
  const bump = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => end(CLOSE.idle, `Terminal fermé après ${minutes(config.idleMs)} min sans activité.`),
      config.idleMs,
    );
  };
  const lifetime = setTimeout(
    () => end(CLOSE.tooLong, `Terminal fermé après ${minutes(config.maxMs)} min : rouvrez-en un.`),
    config.maxMs,
  );
  // A tab that vanished without closing (a laptop lid) stops answering pings: its session ends.
  const ping = setInterval(() => {
    if (!alive) return void ws.terminate();
    alive = false;
    ws.ping();
  }, PING_MS);
  bump();

  ws.on('pong', () => (alive = true));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    bump();
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary) {
      // Text frames are control messages: {"resize": [cols, rows]}.
      const resize = parseResize(bytes.toString());
      if (resize) {
        size = resize;
        shell?.setWindow(size.rows, size.cols, 0, 0);
      }
      return;
    }
    if (shell) shell.write(bytes);
    else if (earlyBytes + bytes.length <= EARLY_INPUT_MAX) {
      early.push(bytes);
      earlyBytes += bytes.length;
    }
  });
  ws.on('close', () => end(CLOSE.ended, ''));
  ws.on('error', () => end(CLOSE.ended, ''));

  ssh.on('ready', () => {
    // The tab may have closed while ssh was logging in.
    if (ws.readyState !== ws.OPEN) return void ssh.end();
    ssh.shell({ term: 'xterm-256color', cols: size.cols, rows: size.rows }, (error, stream) => {
      if (error) return end(CLOSE.sshFailed, `Pas de shell sur votre serveur : ${error.message}`);
      shell = stream;
      if (warning !== undefined) ws.send(notice(warning), { binary: true });
      for (const bytes of early) stream.write(bytes);
      early = [];
      const forward = (chunk: Buffer) => {
        if (ws.readyState !== ws.OPEN) return;
        pending += chunk.length;
        ws.send(chunk, { binary: true }, () => {
          pending -= chunk.length;
          if (pending <= LOW_WATER && stream.isPaused()) stream.resume();
        });
        if (pending > HIGH_WATER) stream.pause();
      };
      stream.on('data', forward);
      stream.stderr.on('data', forward);
      stream.on('close', () => end(CLOSE.ended, 'Session terminée.'));
    });
  });
  ssh.on('error', (error) => end(CLOSE.sshFailed, `Connexion SSH à votre serveur impossible : ${error.message}`));
  ssh.on('close', () => end(CLOSE.ended, 'Session terminée.'));
  ssh.connect({
    host: config.host,
    port: config.port,
    username: config.user,
    password: config.password,
    tryKeyboard: false,
    readyTimeout: 15_000,
    keepaliveInterval: 30_000,
  });
}
