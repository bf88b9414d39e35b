import { Base64Counter, decodeWords, parseStructured, type Structured } from './mime-text.js';

export { Base64Counter, decodeWords, parseStructured } from './mime-text.js';
import { Readable } from 'node:stream';

/** A message header, key lowercased, value unfolded but otherwise as written. */
export interface MessageHeader {
  key: string;
  value: string;
}

export interface MessageAttachment {
  filename?: string;
  mimeType: string;
  /** The Content-Disposition value (attachment, inline), if the part has one. */
  disposition?: string;
  /** 'base64' when the part is declared base64 and its body is clean base64 (see Base64Counter). */
  transferEncoding?: 'base64';
  /** Decoded size in bytes (for a part that is not clean base64: the size of its raw body). */
  size: number;
}

/**
 * The little the checks need from a message, gathered while streaming it: nothing here grows with the size
 * of the message. Strings are cut at TEXT_LIMIT characters, the parts at PART_LIMIT.
 */
export interface MessageFacts {
  /** Postfix queue id, set only when our smtpd received the message (see receivedQueueId). */
  queueId?: string;
  subject?: string;
  /** The first From: header, as written. */
  from?: string;
  /** The first To: header that is not the "undisclosed-recipients:;" Postfix adds. */
  to?: string;
  /** Whether every header after the first From: is a To: of the form Postfix adds (see checks.ts). */
  fromEndsHeaders: boolean;
  /** The Return-Path: the delivery agent added, without its angle brackets. */
  returnPath?: string;
  /** The boundary of a top-level multipart message. */
  boundary?: string;
  /** Leaf parts that are attachments: a disposition, a file name, or a type other than text/plain or html. */
  attachments: MessageAttachment[];
  /** Bytes read. */
  size: number;
}

const TEXT_LIMIT = 200;

function cut(text: string): string {
  return text.length > TEXT_LIMIT ? `${text.slice(0, TEXT_LIMIT)}…` : text;
}
const PART_LIMIT = 20;
/** Header bytes of one MIME node, every header line counting for at least 64 bytes. */
const MAX_HEAD_SIZE = 256 * 1024;
const MAX_CHILD_NODES = 200;

export const SERVER_TO = /^\s*undisclosed-recipients:\s*;\s*$/i;

/**
 * The queue id from the topmost Received: header, the one our Postfix wrote last; lower ones may be typed by
 * the student. Only smtpd writes "with SMTP id" / "with ESMTP id": mail from pickup (sendmail) or from the
 * bounce daemon has "by host (Postfix) id X" and gives undefined. The HELO name and the recipient are
 * written into that header too: when they make it name two different queue ids, none is believed.
 */
export function receivedQueueId(headers: MessageHeader[]): string | undefined {
  const received = headers.find((h) => h.key === 'received');
  if (!received) return undefined;
  const ids = new Set(
    [...received.value.matchAll(/\bwith\s+(?:UTF8)?E?SMTP[SA]{0,2}\s+id\s+([0-9A-Za-z]+)/gi)].map((m) => m[1]),
  );
  return ids.size === 1 ? [...ids][0] : undefined;
}

/** A MIME node while it is read: its headers, then its body counted and dropped. */
interface Part {
  headers: MessageHeader[];
  headerBytes: number;
  /** Set once the headers are read. */
  contentType?: Structured;
  disposition?: Structured;
  /** The boundary of a multipart node. */
  boundary?: string;
  base64?: Base64Counter;
  bytes: number;
}

/** Bytes of a line kept whole when it may be a boundary or a header; longer runs go straight to the body. */
const MAX_LINE = 2048;
const MAX_DEPTH = 20;

/**
 * A streaming MIME reader with fixed memory: header blocks (each at most MAX_HEAD_SIZE) and at most MAX_LINE
 * bytes of a pending line are held; body bytes are counted, and checked as base64 where declared so, then
 * dropped. Parts nest by boundary, at most MAX_DEPTH deep and MAX_CHILD_NODES in all; message/rfc822 parts
 * are leaves.
 */
export class MimeScanner {
  private facts: MessageFacts | undefined;
  private part: Part = MimeScanner.newPart();
  private inHeaders = true;
  /** Boundaries of the open multipart nodes, innermost last. */
  private readonly open: string[] = [];
  private nodes = 1;
  private carry: Buffer | undefined;
  /** Inside a line longer than MAX_LINE, already sent to the body. */
  private midLine = false;
  size = 0;

  private static newPart(): Part {
    return { headers: [], headerBytes: 0, bytes: 0 };
  }

  /** Reads the next bytes; the chunk is not kept, so the caller may reuse its buffer. */
  write(chunk: Buffer): void {
    this.size += chunk.length;
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (this.midLine) {
        this.partial(piece, false);
        if (nl >= 0) this.midLine = false;
      } else if (nl >= 0) {
        const line = this.carry ? Buffer.concat([this.carry, piece]) : piece;
        this.carry = undefined;
        this.line(line[line.length - 1] === 13 ? line.subarray(0, -1) : line);
      } else {
        this.carry = this.carry ? Buffer.concat([this.carry, piece]) : Buffer.from(piece);
        if (this.carry.length > MAX_LINE) {
          this.partial(this.carry, true);
          this.carry = undefined;
          this.midLine = true;
        }
      }
      start = nl < 0 ? chunk.length : nl + 1;
    }
  }

  end(): MessageFacts {
    if (this.carry) this.line(this.carry);
    this.carry = undefined;
    if (this.inHeaders) this.endHeaders();
    this.closePart();
    if (!this.facts) throw new Error('no message header');
    this.facts.size = this.size;
    return this.facts;
  }

  /** Part of a line too long to be a boundary. */
  private partial(bytes: Buffer, startsLine: boolean): void {
    if (this.inHeaders) this.headerLine(bytes.toString('latin1'), !startsLine);
    else this.body(bytes);
  }

  private line(line: Buffer): void {
    if (this.inHeaders) {
      if (line.length === 0) this.endHeaders();
      else this.headerLine(line.toString('utf8'), false);
      return;
    }
    if (line.length >= 3 && line[0] === 0x2d && line[1] === 0x2d && this.open.length > 0 && this.boundary(line)) return;
    this.body(line);
  }

  private headerLine(text: string, continued: boolean): void {
    const part = this.part;
    part.headerBytes += Math.max(64, text.length);
    if (part.headerBytes > MAX_HEAD_SIZE) throw new Error(`header block over ${MAX_HEAD_SIZE} bytes`);
    const last = part.headers[part.headers.length - 1];
    if (continued && last) last.value += text;
    else if (/^[ \t]/.test(text) && last) last.value += ` ${text.trim()}`;
    else {
      const colon = text.indexOf(':');
      if (colon > 0)
        part.headers.push({ key: text.slice(0, colon).trim().toLowerCase(), value: text.slice(colon + 1).trim() });
    }
  }

  private endHeaders(): void {
    this.inHeaders = false;
    const part = this.part;
    const first = (key: string) => part.headers.find((h) => h.key === key)?.value;
    part.contentType = parseStructured(first('content-type') ?? 'text/plain');
    const disposition = first('content-disposition');
    if (disposition !== undefined) part.disposition = parseStructured(disposition);
    const boundary = part.contentType.params.boundary;
    if (part.contentType.value.startsWith('multipart/') && boundary && this.open.length < MAX_DEPTH) {
      part.boundary = boundary;
      this.open.push(boundary);
    } else if ((first('content-transfer-encoding') ?? '').trim().toLowerCase() === 'base64') {
      part.base64 = new Base64Counter();
    }
    if (!this.facts) this.facts = rootFacts(part);
    else part.headers = [];
  }

  /** A boundary line of an open multipart node: closes the current part, opens the next (or closes the node). */
  private boundary(line: Buffer): boolean {
    if (line.length > MAX_LINE) return false;
    const text = line.toString('latin1');
    for (let i = this.open.length - 1; i >= 0; i--) {
      const b = this.open[i] ?? '';
      if (!text.startsWith(`--${b}`)) continue;
      const rest = text.slice(b.length + 2);
      const closing = /^--[ \t]*$/.test(rest);
      if (!closing && !/^[ \t]*$/.test(rest)) continue;
      this.closePart();
      this.open.length = closing ? i : i + 1;
      this.part = MimeScanner.newPart();
      if (closing || this.nodes >= MAX_CHILD_NODES) {
        // The epilogue of the closed node, or parts beyond the limit: read as an ignored body.
        this.part.boundary = 'epilogue';
        this.inHeaders = false;
      } else {
        this.nodes++;
        this.inHeaders = true;
      }
      return true;
    }
    return false;
  }

  private body(bytes: Buffer): void {
    const part = this.part;
    if (part.boundary !== undefined) return;
    part.bytes += bytes.length;
    part.base64?.write(bytes);
  }

  private closePart(): void {
    const part = this.part;
    const facts = this.facts;
    if (!facts || part.boundary !== undefined || !part.contentType || facts.attachments.length >= PART_LIMIT) return;
    const mimeType = part.contentType.value || 'text/plain';
    const disposition = part.disposition?.value || undefined;
    const filename = part.disposition?.params.filename ?? part.contentType.params.name;
    if (disposition === undefined && filename === undefined && /^text\/(plain|html)$/.test(mimeType)) return;
    const decoded = part.base64?.result();
    facts.attachments.push({
      ...(filename !== undefined && { filename: cut(filename) }),
      mimeType: cut(mimeType),
      ...(disposition !== undefined && { disposition: cut(disposition) }),
      ...(decoded !== undefined && { transferEncoding: 'base64' as const }),
      size: decoded ?? part.bytes,
    });
  }
}

function rootFacts(part: Part): MessageFacts {
  const headers = part.headers;
  const first = (key: string) => headers.find((h) => h.key === key)?.value;
  const queueId = receivedQueueId(headers);
  const fromIndex = headers.findIndex((h) => h.key === 'from');
  const to = headers.find((h) => h.key === 'to' && !SERVER_TO.test(h.value))?.value;
  const subject = decodeWords(first('subject') ?? '').trim();
  const returnPath = first('return-path')?.replace(/^\s*<|>\s*$/g, '');
  const boundary = part.boundary;
  return {
    ...(queueId !== undefined && { queueId }),
    ...(subject !== '' && { subject: cut(subject) }),
    ...(fromIndex >= 0 && { from: cut(headers[fromIndex]?.value ?? '') }),
    ...(to !== undefined && { to: cut(to) }),
    fromEndsHeaders:
      fromIndex >= 0 && headers.slice(fromIndex + 1).every((h) => h.key === 'to' && SERVER_TO.test(h.value)),
    ...(returnPath !== undefined && { returnPath: cut(returnPath) }),
    ...(boundary !== undefined && { boundary: cut(boundary) }),
    attachments: [],
    size: 0,
  };
}

/**
 * Reads a message from a byte stream, keeping only MessageFacts (see MimeScanner): nothing of the body is
 * kept or decoded into memory. Throws on a message it refuses (a header block over MAX_HEAD_SIZE).
 */
export async function scanMessage(input: AsyncIterable<Uint8Array | string>): Promise<MessageFacts> {
  const scanner = new MimeScanner();
  for await (const chunk of input) {
    scanner.write(
      typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
    );
  }
  return scanner.end();
}

/** scanMessage on a message held in memory (tests, small inputs). */
export function parseMessage(raw: string | Uint8Array): Promise<MessageFacts> {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  return scanMessage(Readable.from([bytes]));
}
