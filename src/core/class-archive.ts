import { createHash, createHmac } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import type { Engine, MaintenanceResult } from '../docker/engine.js';
import { ExitCode, LabctlError } from '../errors.js';
import { LABEL } from './labels.js';
import { concurrency } from './limits.js';
import type { ObservedClass, ObservedStudent } from './observed-class.js';
import { sessionOf } from './session.js';
import { SidecarClient } from './sidecar-client.js';
import { archiveKey, sameSecret } from './token.js';
import type { Progress } from './wire.js';

/**
 * An archive that settles disputes: per student, what their server holds of what they did (mailboxes, the mail
 * log, the verification log, the archived messages), their credits with time and evidence, and who sat there; the
 * class's lab; and a manifest of every file's SHA-256, signed with a key derived from the class token. Anyone with
 * that key can tell, after the class is gone, whether a file was changed.
 */

export const ARCHIVE_FORMAT = 'labctl-archive/1';
export const MANIFEST = 'manifest.json';
export const SIGNATURE = 'manifest.sig';

/** A collect that hangs is stopped after this long. */
const COLLECT_TIMEOUT_S = 120;

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: typeof ARCHIVE_FORMAT;
  class: string;
  lab: string;
  createdAt: string;
  students: number[];
  files: ManifestFile[];
}

export interface ArchiveSummary {
  class: string;
  /** When it was made (ISO): the manifest's time. */
  createdAt: string;
  students: number[];
  files: number;
  /** The key that checks it (verify-archive --key), to keep once the class is gone. */
  key: string;
}

const pad = (n: number) => String(n).padStart(2, '0');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const sign = (key: string, manifest: string) =>
  `hmac-sha256:${createHmac('sha256', key).update(manifest).digest('hex')}\n`;

/** Refuses before anything is written when a student's servers do not run (an archive is read from them). */
export function checkArchivable(observed: ObservedClass): void {
  if (!observed.token)
    throw new LabctlError(ExitCode.engine, `Class ${observed.className} has no token: it cannot sign an archive.`);
  const asleep = observed.students.filter((s) => s.mail?.state !== 'running' || s.sidecar?.state !== 'running');
  if (asleep.length > 0) {
    throw new LabctlError(
      ExitCode.usage,
      `The servers of student(s) ${asleep.map((s) => s.student).join(', ')} of class ${observed.className} do not run: an archive is read from them.`,
      `Run \`labctl start --class ${observed.className}\` (or \`labctl up\`) first.`,
    );
  }
}

/**
 * The class's archive (of `observed`, narrowed to one student when asked) as a gzipped tar stream, student after
 * student (a few students' copies in memory at a time), the manifest and its signature last. `done` resolves once the
 * stream has given everything; an error destroys the stream with it.
 */
export function archiveClass(
  engine: Engine,
  observed: ObservedClass,
  { now = () => new Date(), signal }: { now?: () => Date; signal?: AbortSignal } = {},
): { stream: Readable; done: Promise<ArchiveSummary> } {
  checkArchivable(observed);
  const key = archiveKey(observed.token!, observed.className);
  const pack = tar.pack();
  const files: ManifestFile[] = [];
  const mtime = now();
  const add = (path: string, content: Buffer, time = mtime) => {
    files.push({ path, bytes: content.length, sha256: sha256(content) });
    return new Promise<void>((resolve, reject) =>
      pack.entry({ name: path, mtime: time, mode: 0o600 }, content, (error) => (error ? reject(error) : resolve())),
    );
  };
  const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
  const out = new PassThrough();
  const gzip = createGzip();
  pack.pipe(gzip).pipe(out);
  gzip.on('error', (error) => out.destroy(error));
  const session = sessionOf(observed.className, observed.objects.volumes);
  const done = (async (): Promise<ArchiveSummary> => {
    const mail = observed.students[0]?.mail;
    await add(
      'class.json',
      json({
        class: observed.className,
        lab: observed.lab.name,
        createdAt: mtime.toISOString(),
        host: observed.host,
        // A graded session's times: when it was set, its end, and each student's extra time (ms).
        ...(session && {
          session: { start: session.start, end: session.end, timeZone: session.timeZone, extra: session.extra },
        }),
      }),
    );
    await add('lab.json', Buffer.from(mail?.labels[LABEL.labData] ?? JSON.stringify(observed.lab)));
    // A few students' servers copy at once (each copy is a few dozen short processes in their server), and each
    // student is written in turn: at most `window` students' copies wait in memory.
    const window = concurrency(engine.parallelism);
    const copies = new Map<number, Promise<Copy>>();
    const copy = (i: number) => {
      const s = observed.students[i];
      if (!s) return;
      const copying = copyStudent(engine, s);
      copying.catch(() => {}); // awaited in turn below; a failure then stops the archive
      copies.set(i, copying);
    };
    for (let i = 0; i < window; i++) copy(i);
    for (let i = 0; i < observed.students.length; i++) {
      // Ctrl-C: no further student; the stream ends with the interruption (the command removes its partial file).
      signal?.throwIfAborted();
      const copied = await copies.get(i)!;
      copies.delete(i);
      copy(i + window);
      await addStudent(observed.students[i]!, copied, add, json);
    }
    const manifest: Manifest = {
      format: ARCHIVE_FORMAT,
      class: observed.className,
      lab: observed.lab.name,
      createdAt: mtime.toISOString(),
      students: observed.students.map((s) => s.student),
      files,
    };
    const text = `${JSON.stringify(manifest, null, 2)}\n`;
    const entry = (name: string, content: string) =>
      new Promise<void>((resolve, reject) =>
        pack.entry({ name, mtime, mode: 0o600 }, content, (error) => (error ? reject(error) : resolve())),
      );
    await entry(MANIFEST, text);
    await entry(SIGNATURE, sign(key, text));
    pack.finalize();
    return {
      class: observed.className,
      createdAt: manifest.createdAt,
      students: manifest.students,
      files: files.length,
      key,
    };
  })();
  done.catch((error: unknown) => out.destroy(error as Error));
  return { stream: out, done };
}

type Add = (path: string, content: Buffer, time?: Date) => Promise<void>;

/** What a student's server and sidecar gave: the collect's copy and what it left alone, and the credits. */
interface Copy {
  run: MaintenanceResult & { backup: Buffer };
  progress: Progress;
}

async function copyStudent(engine: Engine, s: ObservedStudent): Promise<Copy> {
  const run = await engine.maintenance(s.mail!, { action: 'collect', timeoutSeconds: COLLECT_TIMEOUT_S });
  if (run.exitCode !== 0 || !run.backup) {
    throw new LabctlError(
      ExitCode.engine,
      `Could not copy what student ${s.student}'s server holds: ${(run.stderr || run.stdout).trim() || `exit ${run.exitCode}`}`,
    );
  }
  const progress = await new SidecarClient({ host: s.address, port: s.ports.web!, key: s.adminKey! }).progress();
  return { run: { ...run, backup: run.backup }, progress };
}

/** One student's files: what their server copied out (each under sNN/), their credits, their roster entry. */
async function addStudent(s: ObservedStudent, { run, progress }: Copy, add: Add, json: (value: unknown) => Buffer) {
  const dir = `s${pad(s.student)}`;
  const skipped = run.stderr.split('\n').filter((l) => l.startsWith('skipped '));
  const extract = tar.extract();
  Readable.from([run.backup]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const { name, type, mtime } = entry.header;
    // Only files: links are left as they were found, and named.
    if (type === 'file' && name.startsWith('backup/'))
      await add(`${dir}/${name.slice('backup/'.length)}`, Buffer.concat(chunks), mtime);
    else if (type !== 'directory') skipped.push(`skipped ${name.replace(/^backup\//, '')}: a ${type}`);
  }
  await add(`${dir}/credits.json`, json(progress));
  if (s.name !== undefined)
    await add(
      `${dir}/roster.json`,
      json({ student: s.student, name: s.name, email: s.email, number: s.number, group: s.group }),
    );
  if (skipped.length > 0) await add(`${dir}/skipped.txt`, Buffer.from(`${skipped.join('\n')}\n`));
}

export interface Verdict {
  intact: boolean;
  class?: string;
  manifest?: Manifest;
  /** What is wrong, one line each: a file changed, missing or added, the manifest's signature. */
  problems: string[];
}

/** Every entry of a gzipped tar: its SHA-256 and size, and the manifest's and signature's text. */
async function readEntries(
  archive: NodeJS.ReadableStream,
): Promise<{ files: Map<string, Omit<ManifestFile, 'path'>>; duplicates: string[]; text: Map<string, string> }> {
  const files = new Map<string, Omit<ManifestFile, 'path'>>();
  const duplicates: string[] = [];
  const text = new Map<string, string>();
  const extract = tar.extract();
  const gunzip = createGunzip();
  archive.on('error', (error: Error) => extract.destroy(error));
  gunzip.on('error', (error) => extract.destroy(error));
  archive.pipe(gunzip).pipe(extract);
  for await (const entry of extract) {
    const hash = createHash('sha256');
    let bytes = 0;
    const kept: Buffer[] = [];
    const name = entry.header.name;
    for await (const chunk of entry) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      if ((name === MANIFEST || name === SIGNATURE) && bytes <= 64 * 1024 * 1024) kept.push(chunk as Buffer);
    }
    if (entry.header.type === 'directory') continue;
    if (files.has(name) || text.has(name)) duplicates.push(name);
    if (name === MANIFEST || name === SIGNATURE) text.set(name, Buffer.concat(kept).toString('utf8'));
    else files.set(name, { bytes, sha256: hash.digest('hex') });
  }
  return { files, duplicates, text };
}

/**
 * Checks an archive: the manifest's signature with `keyFor(class)` (the key of the class it names, which is only
 * trusted once the signature matches), then every
 * file against the manifest: none changed, none missing, none added, none twice.
 */
export async function verifyArchive(
  archive: NodeJS.ReadableStream,
  keyFor: (className: string) => Promise<string>,
): Promise<Verdict> {
  let read: Awaited<ReturnType<typeof readEntries>>;
  try {
    read = await readEntries(archive);
  } catch (error) {
    return { intact: false, problems: [`not a readable archive (${(error as Error).message})`] };
  }
  const text = read.text.get(MANIFEST);
  if (text === undefined) return { intact: false, problems: [`${MANIFEST} is missing`] };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
    if (manifest.format !== ARCHIVE_FORMAT || !Array.isArray(manifest.files) || typeof manifest.class !== 'string')
      throw new Error('not a labctl manifest');
  } catch (error) {
    return { intact: false, problems: [`${MANIFEST}: ${(error as Error).message}`] };
  }
  const problems: string[] = [];
  const key = await keyFor(manifest.class);
  const signature = read.text.get(SIGNATURE);
  if (signature === undefined) problems.push(`${SIGNATURE} is missing`);
  else if (!sameSecret(signature, sign(key, text)))
    problems.push(
      `${MANIFEST}: its signature does not match (the manifest was changed, or the key is not this class's)`,
    );
  for (const name of read.duplicates) problems.push(`${name}: in the archive twice`);
  const listed = new Set<string>();
  for (const f of manifest.files) {
    listed.add(f.path);
    const found = read.files.get(f.path);
    if (!found) problems.push(`${f.path}: missing`);
    else if (found.sha256 !== f.sha256 || found.bytes !== f.bytes)
      problems.push(`${f.path}: changed (SHA-256 ${found.sha256}, the manifest says ${f.sha256})`);
  }
  for (const name of read.files.keys()) if (!listed.has(name)) problems.push(`${name}: not in the manifest (added)`);
  return { intact: problems.length === 0, class: manifest.class, manifest, problems };
}
