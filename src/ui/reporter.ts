import ora, { type Ora } from 'ora';

export interface ReporterOptions {
  json?: boolean;
  quiet?: boolean;
}

/**
 * The one output channel. Results go to stdout (as text, or as JSON with --json); progress and
 * warnings go to stderr, with spinners only on a terminal, never in CI logs.
 */
export class Reporter {
  readonly json: boolean;
  private readonly quiet: boolean;
  private readonly tty: boolean;

  constructor(options: ReporterOptions = {}) {
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.tty = Boolean(process.stderr.isTTY) && !process.env.CI;
  }

  /** The command's result: text for people, or the data as JSON. A quiet reporter prints nothing. */
  result(text: string, data?: unknown): void {
    if (this.quiet) return;
    if (this.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
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
