import { closeSync, constants, fstatSync, lstatSync, openSync, opendirSync, readSync, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import path from 'node:path';
import { MimeScanner, type MessageFacts } from './message.js';

/** Where the log reader stands: the file (inode) and the byte after the last whole line read. */
export interface LogCursor {
  inode: number;
  offset: number;
}

const CHUNK = 256 * 1024;
/** A line longer than this is no line of ours: it is skipped whole. */
const MAX_LINE = 16 * 1024;

function warn(text: string): void {
  process.stderr.write(`sidecar: ${text}\n`);
}

/**
 * Reads what was appended to the verification log since last time, in chunks of 256 KiB and at most
 * maxBytes a call. It keeps the file open, so lines written to a rotated file before the switch are still
 * read; a new inode at the path, or a truncated file, is read from its start.
 */
export class LogTail<T> {
  private handle: FileHandle | undefined;
  private inode = -1;
  private offset = 0;
  /** Inside a line longer than MAX_LINE: drop bytes up to its end. */
  private skipping = false;
  private readonly buffer = Buffer.alloc(CHUNK);

  constructor(
    private readonly file: string,
    /** The events of a line (none for a line it does not believe). */
    private readonly parse: (line: string) => readonly T[],
    private readonly maxBytes = 4 * CHUNK,
  ) {}

  cursor(): LogCursor {
    return { inode: this.inode, offset: this.offset };
  }

  /** Resumes where a previous run stopped, if the file is still the same. */
  restore(cursor: LogCursor | undefined): void {
    if (!cursor || !Number.isSafeInteger(cursor.inode) || !Number.isSafeInteger(cursor.offset)) return;
    this.inode = cursor.inode;
    this.offset = Math.max(0, cursor.offset);
  }

  async close(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }

  /** Hands each event of the new whole lines to `onEvent`; returns how many there were. */
  async read(onEvent: (event: T) => void): Promise<number> {
    const events = { count: 0, onEvent };
    let budget = this.maxBytes;
    for (;;) {
      if (!this.handle && !(await this.openCurrent())) return events.count;
      budget -= await this.drain(events, budget);
      if (budget <= 0) return events.count;
      // At the end of the open file: has the path moved on to a new file (rotation) or been truncated?
      const info = await stat(this.file).catch(() => undefined);
      const size = (await this.handle?.stat().catch(() => undefined))?.size ?? 0;
      if (info && info.ino === this.inode && size >= this.offset) return events.count;
      if (info && info.ino === this.inode) {
        this.offset = 0;
        this.skipping = false;
        continue;
      }
      // The path is gone (between a rename and rsyslog's new file): keep reading the open file meanwhile.
      if (!info) return events.count;
      await this.close();
      this.inode = -1;
    }
  }

  private async openCurrent(): Promise<boolean> {
    const handle = await open(this.file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch(
      (error: NodeJS.ErrnoException) => {
        // No file: whatever appears at the path next is a new one, even if it reuses the inode number.
        if (error.code === 'ENOENT') [this.inode, this.offset] = [-1, 0];
        return undefined;
      },
    );
    if (!handle) return false;
    const info = await handle.stat().catch(() => undefined);
    if (!info?.isFile()) {
      await handle.close().catch(() => undefined);
      return false;
    }
    if (info.ino !== this.inode || info.size < this.offset) {
      this.offset = 0;
      this.skipping = false;
    }
    this.inode = info.ino;
    this.handle = handle;
    return true;
  }

  /** Reads whole lines from the offset; returns the bytes consumed. */
  private async drain(events: { count: number; onEvent: (event: T) => void }, budget: number): Promise<number> {
    let used = 0;
    while (used < budget && this.handle) {
      const { bytesRead } = await this.handle.read(this.buffer, 0, CHUNK, this.offset);
      if (bytesRead === 0) break;
      const chunk = this.buffer.subarray(0, bytesRead);
      let start = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
        if (this.skipping) this.skipping = false;
        else if (nl - start <= MAX_LINE) {
          for (const event of this.parse(chunk.toString('utf8', start, nl))) {
            events.count++;
            events.onEvent(event);
          }
        }
        start = nl + 1;
      }
      if (start === 0 && bytesRead === CHUNK) {
        // A whole chunk without a line end: drop it and the rest of its line.
        if (!this.skipping) warn(`${this.file}: line over ${CHUNK} bytes at ${this.offset}, skipped`);
        this.skipping = true;
        start = bytesRead;
      }
      this.offset += start;
      used += start;
      if (start === 0 || bytesRead < CHUNK) break;
    }
    return used;
  }
}

/** What the archive reader has already seen: the names of recent files, and a time floor below which none is read. */
export interface ArchiveCursor {
  /** Maildir names start with the delivery time (seconds): files older than this are not read. */
  floor: number;
  names: string[];
}

export interface ArchiveStats {
  /** File names remembered as seen. */
  seen: number;
  /** Entries skipped: not regular files, symlinks, unknown names, too big, unreadable. */
  skipped: number;
  /** Messages that could not be parsed. */
  unparsable: number;
}

/** Largest archive file read: Postfix's message_size_limit (20 MB) plus the headers it adds. */
const MAX_MESSAGE = 21 * 1024 * 1024;
const YIELD_BYTES = 1024 * 1024;
const MAILDIR_NAME = /^(\d{1,12})\./;

/**
 * Reads the message archive (a Maildir that only Postfix writes): each new file in new/ and cur/ once,
 * oldest first, at most maxFiles a call. It remembers names for `windowSeconds` after the newest file seen
 * (at most maxNames of them) and ignores older files after that. Symlinks and anything but regular files are
 * skipped without being opened.
 */
export class ArchiveScanner {
  private readonly seen = new Map<string, number>();
  private floor = 0;
  private skipped = 0;
  private unparsable = 0;
  private changed = false;
  /** The mtime of each directory when it was last listed whole. */
  private readonly listed = new Map<string, number>();
  /** The last listing found more files than one read takes. */
  private backlog = false;
  /** One read buffer for every file. */
  private readonly buffer = Buffer.alloc(64 * 1024);

  constructor(
    private readonly dir: string,
    private readonly maxFiles = 200,
    private readonly windowSeconds = 3600,
    private readonly maxNames = 5000,
  ) {}

  cursor(): ArchiveCursor {
    return { floor: this.floor, names: [...this.seen.keys()] };
  }

  restore(cursor: ArchiveCursor | undefined): void {
    if (!cursor || !Number.isFinite(cursor.floor) || !Array.isArray(cursor.names)) return;
    this.floor = cursor.floor;
    for (const name of cursor.names.slice(-this.maxNames)) {
      const time = typeof name === 'string' ? MAILDIR_NAME.exec(name)?.[1] : undefined;
      if (time !== undefined) this.seen.set(name, Number(time));
    }
  }

  /** Whether files were read since the last call (the cursor moved). */
  takeChanged(): boolean {
    const changed = this.changed;
    this.changed = false;
    return changed;
  }

  stats(): ArchiveStats {
    return { seen: this.seen.size, skipped: this.skipped, unparsable: this.unparsable };
  }

  /** Hands each new message to `onMessage`; returns how many files were read. */
  async read(onMessage: (facts: MessageFacts) => void): Promise<number> {
    const fresh: { file: string; key: string; time: number }[] = [];
    const backlog = this.backlog;
    this.backlog = false;
    for (const sub of ['new', 'cur']) {
      const dir = path.join(this.dir, sub);
      // A directory unchanged since it was last listed whole holds nothing new: no need to list it again.
      // Its mtime is trusted only once it is a second old (coarse timestamps could hide a later entry).
      const info = await stat(dir).catch(() => undefined);
      if (!info) continue;
      if (!backlog && this.listed.get(sub) === info.mtimeMs) continue;
      this.listed.set(sub, Date.now() - info.mtimeMs > 1000 ? info.mtimeMs : -1);
      let entries;
      try {
        entries = opendirSync(dir);
      } catch {
        continue;
      }
      for (let entry = entries.readSync(); entry; entry = entries.readSync()) {
        const key = entry.name.split(':')[0] ?? entry.name;
        if (this.seen.has(key)) continue;
        const time = MAILDIR_NAME.exec(key)?.[1];
        if (time === undefined || Number(time) < this.floor) continue;
        fresh.push({ file: path.join(dir, entry.name), key, time: Number(time) });
      }
      entries.closeSync();
    }
    fresh.sort((a, b) => a.time - b.time || (a.key < b.key ? -1 : 1));
    const batch = fresh.slice(0, this.maxFiles);
    if (fresh.length > batch.length) this.backlog = true;
    for (const { file, key, time } of batch) {
      this.seen.set(key, time);
      this.changed = true;
      const facts = await this.readOne(file);
      if (facts) onMessage(facts);
      await yieldToLoop();
    }
    this.forgetOld();
    return batch.length;
  }

  /**
   * Reads one file with synchronous calls, which keep little alive across awaits for V8 to promote to its old
   * generation; it yields to the event loop every YIELD_BYTES of a big message, and the caller between files.
   */
  private async readOne(file: string): Promise<MessageFacts | undefined> {
    let info: Stats;
    try {
      info = lstatSync(file);
    } catch {
      this.skipped++;
      return undefined;
    }
    if (!info.isFile() || info.size > MAX_MESSAGE) {
      this.skipped++;
      warn(`${file}: ${info.isFile() ? 'too big' : 'not a regular file'}, skipped`);
      return undefined;
    }
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      this.skipped++;
      return undefined;
    }
    try {
      const opened = fstatSync(fd);
      if (!opened.isFile() || opened.ino !== info.ino) {
        this.skipped++;
        return undefined;
      }
      const scanner = new MimeScanner();
      for (let position = 0; position <= MAX_MESSAGE;) {
        const bytesRead = readSync(fd, this.buffer, 0, this.buffer.length, position);
        if (bytesRead === 0) break;
        scanner.write(this.buffer.subarray(0, bytesRead));
        position += bytesRead;
        // A big message: let the HTTP server answer every MiB.
        if (position % YIELD_BYTES === 0) await yieldToLoop();
      }
      return scanner.end();
    } catch (error) {
      this.unparsable++;
      warn(`${file}: cannot be parsed (${(error as Error).message}), skipped`);
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  private forgetOld(): void {
    let newest = 0;
    for (const time of this.seen.values()) newest = Math.max(newest, time);
    this.floor = Math.max(this.floor, newest - this.windowSeconds);
    if (this.seen.size > this.maxNames) {
      const times = [...this.seen.values()].sort((a, b) => a - b);
      this.floor = Math.max(this.floor, times[this.seen.size - this.maxNames] ?? this.floor);
    }
    for (const [key, time] of this.seen) if (time < this.floor) this.seen.delete(key);
  }
}
