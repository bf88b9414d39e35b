import { randomBytes } from 'node:crypto';

/**
 * What the web pages labctl serves (the board, the student's page) share: headers that keep a page out of frames
 * and its address out of Referer headers, and the key cookie that replaces a key in the address.
 */

/** A fresh nonce for a page's inline scripts (Content-Security-Policy). */
export function newNonce(): string {
  return randomBytes(16).toString('base64');
}

/**
 * The headers of an HTML page: scripts only from this origin or inline with the nonce, connections only back to this
 * origin (EventSource and WebSocket), no plugin, no frame around it, no Referer carrying its address out.
 * Inline styles stay allowed: xterm.js writes its theme into a style element.
 */
export function pageHeaders(nonce: string): Record<string, string> {
  const policy = [
    "default-src 'none'",
    `script-src 'self' 'nonce-${nonce}'`,
    "style-src 'self' 'unsafe-inline'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    ...plainHeaders(),
    'content-security-policy': policy,
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  };
}

/** The headers of any other answer (JSON, the event stream, assets). */
export function plainHeaders(): Record<string, string> {
  return {
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  };
}

/** A cookie of the request, by name. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The cookie that holds a key once the page has it: out of reach of scripts, gone when the browser closes, and sent
 * back only by pages of the same site (Strict), or also on a link followed from elsewhere (Lax).
 */
export function keyCookie(name: string, value: string, sameSite: 'Strict' | 'Lax' = 'Strict'): string {
  return `${name}=${encodeURIComponent(value)}; HttpOnly; SameSite=${sameSite}; Path=/`;
}
