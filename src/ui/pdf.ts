import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExitCode, LabctlError } from '../errors.js';

/** Where Chromium is looked for when neither LABCTL_CHROMIUM nor CHROMIUM_PATH says. */
const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

const PRINT_TIMEOUT_MS = 120_000;

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function noChromium(detail: string): LabctlError {
  return new LabctlError(
    ExitCode.usage,
    `Printing a PDF needs Chromium, and ${detail}.`,
    'Install it with `apt-get install chromium` (scripts/setup-host.sh does), or set LABCTL_CHROMIUM to its path. ' +
      'The HTML handout needs no browser: --format html.',
    'no-chromium',
  );
}

/** The Chromium binary: $LABCTL_CHROMIUM (or $CHROMIUM_PATH) when set, else the first one on the PATH. */
export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const given = env.LABCTL_CHROMIUM || env.CHROMIUM_PATH;
  if (given) {
    if (await executable(given)) return given;
    throw noChromium(`${given} (from ${env.LABCTL_CHROMIUM ? 'LABCTL_CHROMIUM' : 'CHROMIUM_PATH'}) is not a program`);
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean))
    for (const name of CANDIDATES) if (await executable(path.join(dir, name))) return path.join(dir, name);
  throw noChromium(`none was found on the PATH (${CANDIDATES.join(', ')})`);
}

/**
 * Prints an HTML page to a PDF file with headless Chromium, run as a child process with a profile of its own
 * (so it never joins a browser already open). The page holds passwords: the working folder is private. Resolves to
 * the PDF's bytes (the caller writes them for their owner only).
 */
export async function printPdf(html: string, chromium?: string): Promise<Buffer> {
  const binary = chromium ?? (await findChromium());
  const dir = await mkdtemp(path.join(tmpdir(), 'labctl-pdf-'));
  try {
    const page = path.join(dir, 'page.html');
    const pdf = path.join(dir, 'page.pdf');
    await writeFile(page, html, { mode: 0o600 });
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-pdf-header-footer',
      `--user-data-dir=${path.join(dir, 'profile')}`,
      `--print-to-pdf=${pdf}`,
      pathToFileURL(page).href,
    ];
    const stderr = await new Promise<string>((resolve, reject) => {
      execFile(binary, args, { timeout: PRINT_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (error, _out, err) => {
        if (error) {
          const cause = (error as NodeJS.ErrnoException).code === 'ENOENT' ? null : error;
          if (!cause) reject(noChromium(`${binary} could not be started`));
          else
            reject(
              new LabctlError(
                ExitCode.internal,
                `Chromium failed to print the PDF${error.killed ? ` (stopped after ${PRINT_TIMEOUT_MS / 1000} s)` : ''}: ${lastLines(err)}`,
                'Try --format html and print it from a browser.',
                'pdf-failed',
              ),
            );
        } else resolve(err);
      });
    });
    let bytes: Buffer;
    try {
      bytes = await readFile(pdf);
    } catch {
      throw new LabctlError(ExitCode.internal, `Chromium wrote no PDF: ${lastLines(stderr)}`, undefined, 'pdf-failed');
    }
    if (bytes.subarray(0, 5).toString('latin1') !== '%PDF-')
      throw new LabctlError(ExitCode.internal, 'Chromium wrote something that is not a PDF.', undefined, 'pdf-failed');
    return bytes;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function lastLines(text: string, count = 5): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return lines.length ? lines.slice(-count).join('\n') : '(no output)';
}
