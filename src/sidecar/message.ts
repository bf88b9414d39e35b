import PostalMime, { type Email } from 'postal-mime';

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
  /** 'base64' when the raw message carries exactly these decoded bytes as base64. */
  transferEncoding?: 'base64';
  /** Decoded size in bytes. */
  size: number;
}

/** The little the checks need from a parsed message, filled by postal-mime. */
export interface ParsedMessage {
  /** Top-level headers in document order, duplicates included. */
  headers: MessageHeader[];
  subject?: string;
  from?: string;
  to?: string[];
  attachments: MessageAttachment[];
}

export interface StoredMessage {
  /** The lab account whose mailbox holds the message. */
  account: string;
  /** Postfix queue id, set only when our smtpd received the message (see receivedQueueId). */
  queueId?: string;
  parsed: ParsedMessage;
  raw: string;
}

export async function parseStoredMessage(account: string, raw: string): Promise<StoredMessage> {
  let parsed: ParsedMessage = { headers: [], attachments: [] };
  try {
    parsed = toParsedMessage(await PostalMime.parse(raw), raw);
  } catch {
    // postal-mime only rejects on its size limits; such a message simply proves nothing.
  }
  const queueId = receivedQueueId(parsed.headers);
  return { account, ...(queueId !== undefined && { queueId }), parsed, raw };
}

/**
 * The queue id from the topmost Received: header, the one our Postfix wrote last; lower ones may be
 * typed by the student. Only smtpd writes "with SMTP id" / "with ESMTP id": mail from pickup (sendmail)
 * or from the bounce daemon has "by host (Postfix) id X" and gives undefined.
 */
export function receivedQueueId(headers: MessageHeader[]): string | undefined {
  const received = headers.find((h) => h.key === 'received');
  return received && /\bwith\s+(?:UTF8)?E?SMTP[SA]{0,2}\s+id\s+([0-9A-Za-z]+)/i.exec(received.value)?.[1];
}

function toParsedMessage(email: Email, raw: string): ParsedMessage {
  const compactRaw = raw.replace(/\s+/g, '');
  const hasBase64Part = /^content-transfer-encoding:\s*"?base64/im.test(raw);
  const to = (email.to ?? []).flatMap((a) => (a.group ? a.group.map((m) => m.address) : [a.address]));
  return {
    headers: email.headers.map(({ key, value }) => ({ key, value })),
    ...(email.subject !== undefined && { subject: email.subject }),
    ...(email.from?.address !== undefined && { from: email.from.address }),
    ...(email.to !== undefined && { to }),
    attachments: email.attachments.map((a) => {
      const bytes = toBytes(a.content, a.encoding);
      // postal-mime does not say how a part was encoded: re-encoding the decoded bytes and finding them
      // in the raw text proves the part was base64 and decoded without loss.
      const base64 = bytes.toString('base64').replace(/=+$/, '');
      const isBase64 = hasBase64Part && bytes.length > 0 && compactRaw.includes(base64);
      return {
        ...(a.filename !== null && { filename: a.filename }),
        mimeType: a.mimeType,
        ...(a.disposition !== null && { disposition: a.disposition }),
        ...(isBase64 && { transferEncoding: 'base64' as const }),
        size: bytes.length,
      };
    }),
  };
}

function toBytes(content: ArrayBuffer | Uint8Array | string, encoding?: 'base64' | 'utf8'): Buffer {
  if (typeof content === 'string') return Buffer.from(content, encoding === 'base64' ? 'base64' : 'utf8');
  return content instanceof Uint8Array ? Buffer.from(content) : Buffer.from(new Uint8Array(content));
}
