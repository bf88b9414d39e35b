import assert from 'node:assert/strict';
import type { Board } from '../../src/core/board-model.js';
import { EXERCISE_IDS } from '../../src/sidecar/checks.js';
import { labctl } from './cli.js';
import { Session, SMTP_FINAL } from './session.js';

/** An SMTP session typed line by line, as in the TD; refused recipients are allowed to be refused. */
export async function smtpSession(port: number, from: string, rcpts: string[], body: string[]): Promise<void> {
  const s = await Session.open(port);
  try {
    await s.read(SMTP_FINAL);
    await s.say('helo pv', SMTP_FINAL);
    assert.match(await s.say(`mail from: ${from}`, SMTP_FINAL), /^250 /);
    let accepted = 0;
    for (const r of rcpts) if ((await s.say(`rcpt to: ${r}`, SMTP_FINAL)).startsWith('250')) accepted++;
    if (accepted > 0) {
      assert.match(await s.say('data', SMTP_FINAL), /^354 /);
      for (const line of body) s.type(line);
      assert.match(await s.say('.', SMTP_FINAL), /^250 2\.0\.0 Ok: queued as /);
    }
    await s.say('quit', SMTP_FINAL);
  } finally {
    s.close();
  }
}

export async function popSession(port: number, user: string, password: string, retr: boolean): Promise<void> {
  const s = await Session.open(port);
  await s.read(/^\+OK/);
  await s.send(`USER ${user}`, /^[+-]/);
  const pass = await s.say(`PASS ${password}`, /^[+-]/);
  if (pass.startsWith('+OK') && retr) await s.send('RETR 1', /^\.$|^-ERR/);
  await s.say('QUIT', /^[+-]/);
  s.close();
}

export async function imapSession(port: number, user: string, password: string, fetch: boolean): Promise<void> {
  const s = await Session.open(port);
  await s.read(/^\* OK/);
  const login = await s.say(`a1 LOGIN ${user} ${password}`, /^a1 /);
  if (login.startsWith('a1 OK') && fetch) {
    await s.send('a2 SELECT INBOX', /^a2 /);
    await s.send('a3 FETCH 1 BODY[TEXT]', /^a3 /);
  }
  await s.send('a4 LOGOUT', /^a4 /);
  s.close();
}

/**
 * The board `check --json` prints. A row whose sidecar did not answer (or cannot save) still comes back, with its
 * `error`: check prints the whole board, then exits 6 (no-sidecar, its JSON on stderr); any other failure throws.
 */
export async function classBoard(className: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Board> {
  const result = await labctl(['check', '--class', className, ...args, '--json'], undefined, env);
  const unread = result.code === 6 && /"code": "no-sidecar"/.test(result.stderr);
  if (result.code !== 0 && !unread)
    throw new Error(`labctl check --class ${className} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout) as Board;
}

export const doneIds = (b: Board, student: number) =>
  b.students
    .find((s) => s.student === student)!
    .exercises.filter((e) => e.done)
    .map((e) => e.id);

/** Waits until the board shows at least `ids` done for the student (results come within a poll or two). */
export async function waitForCredits(className: string, student: number, ids: string[]): Promise<Board> {
  let last: Board | undefined;
  for (let i = 0; i < 40; i++) {
    last = await classBoard(className);
    if (ids.every((id) => doneIds(last!, student).includes(id))) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`never credited ${ids.join(', ')}; done: ${doneIds(last!, student).join(', ')}`);
}

/** The TD's exercise ids, in the lab file's order. */
export const ALL_EXERCISES: string[] = [...EXERCISE_IDS];

// The first bytes of a real JPEG (SOI, JFIF APP0), base64-encoded as `base64 image.jpg` prints them.
export const JPEG_BASE64 = Buffer.from('ffd8ffe000104a46494600010101012c012c0000ffdb004300', 'hex').toString('base64');

/** The TD's multipart message: a text attachment and a base64 JPEG. */
export const MULTIPART_BODY = [
  'Subject: test',
  'Content-type: multipart/mixed; boundary=------------0000000000',
  '',
  'This is a multi-part message in MIME format.',
  '--------------0000000000',
  '',
  'Le contenu du message',
  '',
  '--------------0000000000',
  'Content-Type: text/plain; charset=UTF-8;',
  '   name="fichier.txt"',
  'Content-Transfer-Encoding: 7bit',
  'Content-Disposition: attachment;',
  '   filename="fichier.txt"',
  '',
  'Le contenu du fichier',
  '--------------0000000000',
  'Content-Type: image/jpeg;',
  ' name="postfix-synoptique.jpg"',
  'Content-Transfer-Encoding: base64',
  'Content-Disposition: attachment;',
  ' filename="postfix-synoptique.jpg"',
  '',
  JPEG_BASE64,
  '--------------0000000000--',
];

/**
 * Waits until the sidecar on `port` (its page's port) has completed two more polls of the evidence than it had
 * when asked (each ask wakes it, else it polls only on a change or every few seconds): it has then read everything
 * written before, so what it did not credit by now, it will not. A negative check waits for this, not for a time.
 */
export async function sidecarSettled(port: number, host = '127.0.0.1'): Promise<void> {
  const polls = async () => {
    const health = (await (await fetch(`http://${host}:${port}/health?poll`)).json()) as { polls?: number };
    assert.ok(health.polls !== undefined, 'the sidecar says how many polls it made');
    return health.polls;
  };
  const start = await polls();
  for (let i = 0; i < 200; i++) {
    if ((await polls()) >= start + 2) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('the sidecar made no two polls in 20 s');
}
