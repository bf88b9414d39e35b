import { chmod, writeFile } from 'node:fs/promises';
import ora, { type Ora } from 'ora';
import { usageError } from '../errors.js';

export interface ReporterOptions {
  json?: boolean;
  quiet?: boolean;
  /** Where results go; stdout unless a test says otherwise. */
  stdout?: { isTTY?: boolean; write(chunk: string | Uint8Array): unknown };
}

/** A file-shaped result (CSV, a spreadsheet): what it is, and where it goes (stdout when no file is given). */
export interface FileOutput {
  content: string | Uint8Array;
  /** Said when it is written to a file, e.g. "the Moodle grades (19 rows)". */
  what: string;
  file?: string;
  /** Binary content is never written to a terminal. */
  binary?: boolean;
}

/**
 * The one output channel. Results go to stdout (as text, or as JSON with --json); progress and
 * warnings go to stderr, with spinners only on a terminal, never in CI logs.
 */
export class Reporter {
  readonly json: boolean;
  private readonly quiet: boolean;
  private readonly tty: boolean;
  private readonly stdout: NonNullable<ReporterOptions['stdout']>;

  constructor(options: ReporterOptions = {}) {
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.tty = Boolean(process.stderr.isTTY) && !process.env.CI;
    this.stdout = options.stdout ?? process.stdout;
  }

  /**
   * A file-shaped result: written to `file` (readable by its owner only: grades and class lists are personal data),
   * else to stdout, except binary content on a terminal, which is refused (exit 2) before anything is written.
   */
  async output({ content, what, file, binary }: FileOutput): Promise<void> {
    if (file) {
      try {
        await writeFile(file, content, { mode: 0o600 });
        await chmod(file, 0o600);
      } catch (error) {
        throw usageError(`Cannot write ${file}: ${(error as Error).message}`);
      }
      this.info(`Wrote ${what} to ${file}.`);
      return;
    }
    if (binary && this.stdout.isTTY)
      throw usageError(
        `Not writing ${what} (a binary file) to the terminal.`,
        'Give --output FILE, or redirect stdout.',
      );
    this.stdout.write(content);
  }

  /** The command's result: text for people, or the data as JSON. A quiet reporter prints nothing. */
  result(text: string, data?: unknown): void {
    if (this.quiet) return;
    if (this.json) this.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Raw output that is the result itself, as it comes (a log, a CSV, a refreshed table); nothing when quiet. */
  write(text: string): void {
    if (!this.quiet) process.stdout.write(text);
  }

  info(message: string): void {
    if (!this.quiet && !this.json) process.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    process.stderr.write(`warning: ${message}\n`);
  }

  /** Runs fn with a spinner (terminal) or start/finish lines (otherwise). */
  async task<T>(
    text: string,
    fn: (update: (text: string) => void) => Promise<T>,
    done?: (result: T) => string,
  ): Promise<T> {
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    if (this.quiet || this.json || !this.tty) {
      if (!this.quiet && !this.json) process.stderr.write(`${text}...\n`);
      const result = await fn(() => {});
      if (!this.quiet && !this.json) process.stderr.write(`${done ? done(result) : text} (${elapsed()})\n`);
      return result;
    }
    // discardStdin off: ora's raw mode would swallow Ctrl-C (stdin-discarder 0.3 never reads the 0x03 it waits for).
    const spinner: Ora = ora({ text, stream: process.stderr, discardStdin: false }).start();
    try {
      const result = await fn((t) => (spinner.text = `${text}: ${t}`));
      spinner.succeed(`${done ? done(result) : text} (${elapsed()})`);
      return result;
    } catch (error) {
      spinner.fail(`${text}: failed after ${elapsed()}`);
      throw error;
    }
  }
}
