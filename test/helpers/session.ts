import net from 'node:net';

/**
 * A telnet-like client: it sends one line at a time, as a student types, and reads the server's
 * lines. Every line read is kept in `transcript`, so a failing test shows the whole session.
 */
export class Session {
  readonly transcript: string[] = [];
  private buffer = '';
  private lines: string[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let i: number;
      while ((i = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, i).replace(/\r$/, '');
        this.buffer = this.buffer.slice(i + 1);
        this.transcript.push(`S: ${line}`);
        this.lines.push(line);
      }
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }

  static open(port: number, host = '127.0.0.1'): Promise<Session> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port }, () => resolve(new Session(socket)));
      socket.once('error', reject);
    });
  }

  /** Reads lines until one matches `until`; returns them all. */
  async read(until: RegExp, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const got: string[] = [];
    for (;;) {
      while (this.lines.length > 0) {
        const line = this.lines.shift()!;
        got.push(line);
        if (until.test(line)) return got;
      }
      if (this.closed) throw new Error(`connection closed waiting for ${until}\n${this.transcript.join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${until}\n${this.transcript.join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Types a line without waiting for an answer (message headers and body). */
  type(line: string): void {
    this.transcript.push(`C: ${line}`);
    this.socket.write(`${line}\r\n`);
  }

  /** Types a line and reads the answer up to the line matching `until`. */
  async send(line: string, until: RegExp): Promise<string[]> {
    this.type(line);
    return this.read(until);
  }

  /** The last line of a reply, where SMTP puts its final code. */
  async say(line: string, until: RegExp): Promise<string> {
    return (await this.send(line, until)).at(-1)!;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** An SMTP reply's last line: "250 ..." rather than "250-...". */
export const SMTP_FINAL = /^\d{3} /;
