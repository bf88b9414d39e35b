import { readFile } from 'node:fs/promises';
import { ListenerSchema, type Listener } from '../core/wire.js';

/**
 * The mail server's listeners as its entrypoint last wrote them into the evidence (images/mail/entrypoint.sh): a
 * line a service, `smtp 25 listening 0`. Students cannot write there; still, a line out of that form makes the whole
 * file unread (undefined: labctl then greets the server itself), as does a missing or empty file (a server still
 * starting, or of an older image).
 */
export function parseListeners(text: string): Record<string, Listener> | undefined {
  const lines = text.split('\n').filter((l) => l !== '');
  if (lines.length === 0) return undefined;
  const out: Record<string, Listener> = {};
  for (const line of lines) {
    const m = /^([a-z][a-z0-9-]{0,31}) (\d{1,5}) ([a-z]+) (\d{1,9})$/.exec(line);
    if (!m) return undefined;
    const parsed = ListenerSchema.safeParse({ port: Number(m[2]), state: m[3], waiting: Number(m[4]) });
    if (!parsed.success || m[1]! in out) return undefined;
    out[m[1]!] = parsed.data;
  }
  return out;
}

/** Reads and parses the listeners' file; undefined when there is none (or not in its form). */
export async function readListeners(file: string): Promise<Record<string, Listener> | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.length > 4096 ? undefined : parseListeners(text);
}
