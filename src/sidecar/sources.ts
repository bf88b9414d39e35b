import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { LogEvent } from './events.js';
import { parseStoredMessage, type StoredMessage } from './message.js';
import { parseLogLine } from './parse-log.js';

/** Reads what was appended to the mail log since last time; starts over when the file is rotated. */
export class LogTail {
  private inode = -1;
  private offset = 0;
  private partial = '';

  constructor(private readonly file: string) {}

  async read(): Promise<LogEvent[]> {
    const info = await stat(this.file).catch(() => undefined);
    if (!info) return [];
    if (info.ino !== this.inode || info.size < this.offset) {
      this.inode = info.ino;
      this.offset = 0;
      this.partial = '';
    }
    if (info.size === this.offset) return [];
    const handle = await open(this.file, 'r');
    try {
      const buffer = Buffer.alloc(info.size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      const lines = (this.partial + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
      this.partial = lines.pop() ?? '';
      return lines.map((line) => parseLogLine(line)).filter((e): e is LogEvent => e !== undefined);
    } finally {
      await handle.close();
    }
  }
}

export interface DeliveredMessage {
  message: StoredMessage;
  deliveredAt: string;
}

/**
 * Finds the messages delivered to each account's ~/Maildir (new/ and cur/), once each: a message
 * keeps its name up to the ':' when a client moves it from new/ to cur/ and flags it.
 */
export class MaildirScanner {
  private readonly seen = new Set<string>();

  constructor(private readonly homeDir: string) {}

  async read(): Promise<DeliveredMessage[]> {
    const found: DeliveredMessage[] = [];
    const users = await readdir(this.homeDir).catch(() => [] as string[]);
    for (const user of users) {
      for (const sub of ['new', 'cur']) {
        const dir = path.join(this.homeDir, user, 'Maildir', sub);
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          const id = `${user}/${name.split(':')[0]}`;
          if (this.seen.has(id)) continue;
          const file = path.join(dir, name);
          const [raw, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]).catch(() => [
            undefined,
            undefined,
          ]);
          if (raw === undefined || info === undefined) continue;
          this.seen.add(id);
          found.push({ message: await parseStoredMessage(user, raw), deliveredAt: info.mtime.toISOString() });
        }
      }
    }
    return found;
  }
}
