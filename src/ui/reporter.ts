import { createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { usageError } from '../errors.js';

interface Out {
  isTTY?: boolean;
  write(chunk: string | Uint8Array): unknown;
}

export interface ReporterOptions {
  json?: boolean;
  quiet?: boolean;
  /** Where results go, and progress and warnings; stdout and stderr unless a test says otherwise. */
  stdout?: Out;
  stderr?: Out;
  /** Whether a person can answer a question (stdin is a terminal). */
  interactive?: boolean;
  /** How questions are asked; by default on the terminal (inquirer's prompt). */
  prompt?: Prompt;
}

/** Inquirer's question objects (name, type, message, default, choices, validate), and the answers by name. */
export type Question = Record<string, unknown> & { name: string; type: string; message: string };
export type Prompt = (questions: Question[]) => Promise<Record<string, unknown>>;

/** A file-shaped result (CSV, a spreadsheet): what it is, and where it goes (stdout when no file is given). */
export interface FileOutput {
  content: string | Uint8Array;
  /** Said when it is written to a file, e.g. "the Moodle grades (19 rows)". */
  what: string;
  file?: string;
  /** Binary content is never written to a terminal. */
  binary?: boolean;
}

/** Questions on the terminal. Inquirer is loaded only when a question is asked. */
const terminalPrompt: Prompt = async (questions) => {
  const { default: inquirer } = await import('inquirer');
  return inquirer.prompt(questions as Parameters<typeof inquirer.prompt>[0]);
};

/** Whether this process printed a result as JSON on stdout (failure() then writes its JSON on stderr). */
let jsonResultPrinted = false;

/**
 * The one way in and out of a command (aws-cdk-cli's I/O host): results go to stdout (as text, or as JSON with
 * --json); progress, warnings and questions to stderr, with spinners only on a terminal, never in CI logs; files
 * that hold people's data are written for their owner only.
 */
export class Reporter {
  readonly json: boolean;
  private readonly quiet: boolean;
  private readonly stdout: Out;
  private readonly stderr: Out;
  /** Whether a person can answer a question (stdin is a terminal). */
  readonly interactive: boolean;
  private readonly prompt: Prompt;

  constructor(options: ReporterOptions = {}) {
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.interactive = options.interactive ?? Boolean(process.stdin.isTTY);
    this.prompt = options.prompt ?? terminalPrompt;
  }

  /** Spinners and screen redraws: only on a terminal, and never in CI. */
  private get tty(): boolean {
    return Boolean(this.stderr.isTTY) && !process.env.CI;
  }

  /** Whether stdout is a terminal (a board redrawn in place, binary content refused). */
  get stdoutIsTerminal(): boolean {
    return Boolean(this.stdout.isTTY);
  }

  /**
   * Asks before something that cannot be undone; `yes` answers for the user. Off a terminal, without `yes`, it
   * refuses with exit 2 naming what it would do. A "no" is exit 2 too, with nothing changed.
   */
  async confirm(
    question: string,
    options: { yes?: boolean; refusal: string; flag?: string; cancelled?: string },
  ): Promise<void> {
    if (options.yes) return;
    if (!this.interactive)
      throw usageError(
        `${options.refusal}, and this is not a terminal to confirm on.`,
        `Add ${options.flag ?? '--yes'} to confirm.`,
      );
    const { ok } = await this.prompt([{ type: 'confirm', name: 'ok', message: question, default: false }]);
    if (ok !== true) throw usageError(options.cancelled ?? 'Cancelled; nothing was changed.');
  }

  /** Asks the questions on a terminal; off one, nobody answers and the caller's defaults hold. */
  async ask(questions: Question[]): Promise<Record<string, unknown>> {
    if (!this.interactive || questions.length === 0) return {};
    return this.prompt(questions);
  }

  /** Writes `content` to `file`, readable by its owner only (grades, cards, backups: personal data). */
  async writePrivate(
    file: string,
    content: string | Uint8Array,
    options: { privateDir?: boolean } = {},
  ): Promise<void> {
    try {
      if (options.privateDir) {
        const dir = path.dirname(file);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await chmod(dir, 0o700);
      }
      // The mode applies only when the file is created: set it again for one that was there.
      await writeFile(file, content, { mode: 0o600 });
      await chmod(file, 0o600);
    } catch (error) {
      throw usageError(`Cannot write ${file}: ${(error as Error).message}`);
    }
  }

  /**
   * A stream written to `file` (an image archive, a class's archive), aside then renamed: an interrupted write leaves
   * no file that looks whole, and no partial one (`signal`: Ctrl-C stops the copy and rejects with its reason).
   * Resolves to its size in bytes.
   */
  async writeStream(
    file: string,
    stream: NodeJS.ReadableStream,
    options: { private?: boolean; signal?: AbortSignal } = {},
  ): Promise<number> {
    const partial = `${file}.partial`;
    try {
      // Private (an archive of students' mail): readable by its owner only, from its first byte.
      const out = createWriteStream(partial, options.private ? { mode: 0o600 } : {});
      await pipeline(stream, out, ...(options.signal ? [{ signal: options.signal }] : []));
      if (options.private) await chmod(partial, 0o600);
      await rename(partial, file);
    } catch (error) {
      await rm(partial, { force: true });
      throw options.signal?.aborted ? (options.signal.reason as Error) : error;
    }
    return (await stat(file)).size;
  }

  /** A command that could not do its work: the error as JSON on stdout with --json, else text on stderr. */
  failure(error: { message: string; hint?: string }, json: unknown): void {
    // stdout holds one JSON document: the error's goes to stderr when a result was printed before it (status and
    // check print the class, then fail for the students who have no server).
    if (this.json) (jsonResultPrinted ? this.stderr : this.stdout).write(`${JSON.stringify(json, null, 2)}\n`);
    else {
      this.stderr.write(`labctl: ${error.message}\n`);
      if (error.hint) this.stderr.write(`  ${error.hint}\n`);
    }
  }

  /**
   * A file-shaped result: written to `file` (owner only), else to stdout, except binary content on a terminal,
   * which is refused (exit 2) before anything is written.
   */
  async output({ content, what, file, binary }: FileOutput): Promise<void> {
    if (file) {
      await this.writePrivate(file, content);
      this.info(`Wrote ${what} to ${file}.`);
      return;
    }
    if (binary && this.stdoutIsTerminal)
      throw usageError(
        `Not writing ${what} (a binary file) to the terminal.`,
        'Give --output FILE, or redirect stdout.',
      );
    this.stdout.write(content);
  }

  /** The command's result: text for people, or the data as JSON. A quiet reporter prints nothing. */
  result(text: string, data?: unknown): void {
    if (this.quiet) return;
    if (this.json) {
      this.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      jsonResultPrinted = true;
    } else this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Raw output that is the result itself, as it comes (a log, a refreshed table); nothing when quiet. */
  write(text: string): void {
    if (!this.quiet) this.stdout.write(text);
  }

  /** A result drawn again in place: the screen is cleared first on a terminal. */
  redraw(text: string): void {
    this.write(this.stdoutIsTerminal ? `\x1b[2J\x1b[H${text}` : text);
  }

  info(message: string): void {
    if (!this.quiet && !this.json) this.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    this.stderr.write(`warning: ${message}\n`);
  }

  /** Runs fn with a spinner (terminal) or start/finish lines (otherwise). */
  async task<T>(
    text: string,
    fn: (update: (text: string) => void) => Promise<T>,
    done?: (result: T) => string,
  ): Promise<T> {
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const say = !this.quiet && !this.json;
    if (!say || !this.tty) {
      if (say) this.stderr.write(`${text}...\n`);
      const result = await fn(() => {});
      if (say) this.stderr.write(`${done ? done(result) : text} (${elapsed()})\n`);
      return result;
    }
    // Loaded only for a spinner on a terminal: every other run starts without it.
    const { default: ora } = await import('ora');
    // discardStdin off: ora's raw mode would swallow Ctrl-C (stdin-discarder 0.3 never reads the 0x03 it waits for).
    const spinner = ora({
      text,
      stream: this.stderr as NodeJS.WritableStream,
      discardStdin: false,
    }).start();
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
