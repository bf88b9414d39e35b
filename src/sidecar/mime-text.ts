/**
 * The text parts of a MIME header and body that the sidecar's scanner reads: base64 bodies counted (never decoded
 * whole), RFC 2047 encoded words, and structured values with their RFC 2231 parameters.
 */

/**
 * Counts the bytes a base64 body decodes to, chunk by chunk, and says whether it is clean: only the base64
 * alphabet and whitespace, at most two '=' and only at the end, a length that decodes whole, not empty.
 */
export class Base64Counter {
  private data = 0;
  private padding = 0;
  private bad = false;

  write(chunk: Uint8Array): void {
    if (this.bad) return;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] ?? 0;
      if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) continue;
      if (c === 0x3d) {
        this.padding++;
        if (this.padding > 2) this.bad = true;
      } else if (
        this.padding === 0 &&
        ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f)
      ) {
        this.data++;
      } else {
        this.bad = true;
      }
      if (this.bad) return;
    }
  }

  /** The decoded size when the body was clean base64, else undefined. */
  result(): number | undefined {
    if (this.bad || this.data === 0) return undefined;
    const total = this.data + this.padding;
    const whole = this.padding > 0 ? total % 4 === 0 : this.data % 4 !== 1;
    return whole ? Math.floor((this.data * 3) / 4) : undefined;
  }
}

/** RFC 2047 encoded words (=?charset?B|Q?text?=), the whitespace between two of them dropped. */
export function decodeWords(text: string): string {
  return text
    .replace(/(=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)/g, '$1')
    .replace(/=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g, (word, charset: string, kind: string, data: string) => {
      const bytes =
        kind.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64')
          : Buffer.from(
              data
                .replace(/_/g, ' ')
                .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
              'latin1',
            );
      return decodeBytes(bytes, charset.replace(/\*.*$/, '')) ?? word;
    });
}

function decodeBytes(bytes: Uint8Array, charset: string): string | undefined {
  try {
    return new TextDecoder(charset.toLowerCase()).decode(bytes);
  } catch {
    return undefined;
  }
}

/** A structured header value: its first token lowercased ("multipart/mixed", "attachment") and its parameters. */
export interface Structured {
  value: string;
  params: Record<string, string>;
}

/** Parses `value; key=token; key="quoted"`, RFC 2231 `key*=charset'lang'%XX` and `key*0=`..`key*N=` included. */
export function parseStructured(header: string | undefined): Structured {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < (header ?? '').length; i++) {
    const c = header?.[i] ?? '';
    if (c === '"') quoted = !quoted;
    if (c === '\\' && quoted) {
      current += header?.[++i] ?? '';
      continue;
    }
    if (c === ';' && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  const value = (parts.shift() ?? '').trim().toLowerCase();
  const pieces = new Map<string, { index: number; text: string; extended: boolean }[]>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    let text = part.slice(eq + 1).trim();
    if (text.startsWith('"') && text.endsWith('"') && text.length >= 2) text = text.slice(1, -1);
    const m = /^([^*]+)(?:\*(\d+))?(\*)?$/.exec(key);
    if (!m) continue;
    const name = m[1] ?? '';
    const list = pieces.get(name) ?? [];
    list.push({ index: Number(m[2] ?? 0), text, extended: m[3] !== undefined });
    pieces.set(name, list);
  }
  const params: Record<string, string> = {};
  for (const [name, list] of pieces) {
    list.sort((a, b) => a.index - b.index);
    if (!list.some((p) => p.extended)) {
      params[name] = decodeWords(list.map((p) => p.text).join(''));
      continue;
    }
    // RFC 2231: the first extended piece says the charset; percent-escapes are bytes in it.
    let charset = 'utf-8';
    const bytes: number[] = [];
    list.forEach((p, i) => {
      let text = p.text;
      if (i === 0 && p.extended) {
        const m = /^([^']*)'[^']*'(.*)$/.exec(text);
        if (m) {
          charset = m[1] || 'utf-8';
          text = m[2] ?? '';
        }
      }
      const raw = p.extended
        ? text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
        : text;
      for (const b of Buffer.from(raw, 'latin1')) bytes.push(b);
    });
    params[name] = decodeBytes(Uint8Array.from(bytes), charset) ?? Buffer.from(bytes).toString('latin1');
  }
  return { value, params };
}
