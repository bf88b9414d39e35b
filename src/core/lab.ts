import { readFileSync } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { packagePath } from '../paths.js';
import { z } from 'zod';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { compileRules } from './lab-rules/compile.js';
import { SpecError, type EvidenceSpec, type ExerciseSpec } from './lab-rules/spec.js';
import { handoutSchema, parseHandout, type HandoutText } from './lab-handout.js';
import { serverFiles, serverTemplateSchema, type ServerTemplate } from './lab-server.js';
import { parseYaml } from './lab-yaml.js';
import { collisionText, portCollision } from './ports.js';
import { PROTOCOLS, serviceInfo, TLS_MODES, type Service, type ServiceInfo } from './services.js';
import { studentPassword } from './token.js';

export { PROTOCOLS, serviceInfo, type Protocol, type Service, type ServiceInfo, type TlsMode } from './services.js';
export { HANDOUT_VALUES, handoutSchema, parseHandout, type HandoutText } from './lab-handout.js';
export { serverFiles, type ServerTemplate } from './lab-server.js';

const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a Unix user name such as util1');

const MiB = 1024 * 1024;
/** The smallest disk a student's server works on: Postfix refuses mail below twice the largest message free. */
export const MIN_DISK_BYTES = 128 * MiB;
export const DEFAULT_DISK_BYTES = 1024 * MiB;
const UNITS: Record<string, number> = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB };

/** "1GiB", "512 MiB", "1G", "300M" or a number of bytes, in bytes; undefined when it is none of these. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(value);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!);
}

const diskSize = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined || bytes < MIN_DISK_BYTES || bytes > 1024 * 1024 * MiB) {
    ctx.addIssue({ code: 'custom', message: 'a size from 128MiB to 1TiB, such as 1GiB or 512MiB' });
    return z.NEVER;
  }
  return bytes;
});

/** Field paths and their conditions (checked in depth by lab-rules/compile.ts). */
const conditions = z.record(z.string(), z.unknown());

const rule = z
  .object({
    on: z.string(),
    part: conditions.optional(),
    where: conditions.optional(),
    say: z.string().min(1),
    at: z.string().optional(),
  })
  .strict();

const linePattern = z
  .object({
    program: z.union([z.string(), z.array(z.string())]).optional(),
    match: z.string().optional(),
    like: z.string().optional(),
    within: z.record(z.string(), z.string()).optional(),
    where: conditions.optional(),
    set: z.record(z.string(), z.string()).optional(),
    uid: z.union([z.enum(['root', 'postfix']), z.array(z.enum(['root', 'postfix']))]).optional(),
  })
  .strict();

const port = z.number().int().min(1).max(65535);
const tls = z.enum(TLS_MODES).optional();

export const labSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lower-case letters, digits and dashes'),
    title: z.string().min(1),
    accounts: z.object({
      prefix: userName,
      count: z.number().int().min(1).max(99),
      password: z
        .string()
        .min(1)
        .regex(/^[^\s:]+$/, 'a password without spaces or colons'),
    }),
    pairs: z.array(z.tuple([userName, userName])).min(1),
    /**
     * What one student's server may write in all (mailboxes, Maildirs, logs, the message archive, the mail queue):
     * the size of their disk (see README, Security model).
     */
    disk: diskSize.default(DEFAULT_DISK_BYTES),
    services: z
      .record(
        z.string().regex(/^[a-z][a-z0-9-]{0,15}$/, 'a service name: lower-case letters, digits, dashes'),
        z.union([
          port,
          z.object({ port, protocol: z.enum(PROTOCOLS).optional(), tls, label: z.string().min(1).optional() }).strict(),
        ]),
      )
      .refine((s) => 'ssh' in s, 'an ssh service (students log in to read their mailboxes and the log)')
      .refine((s) => !('web' in s), 'no service named web: that is the progress page'),
    /** Debian packages the lab adds to the mail image. */
    image: z
      .object({ packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian package name')).default([]) })
      .strict()
      .default({ packages: [] }),
    evidence: z
      .object({
        lines: z.record(z.string(), linePattern),
        message: z
          .object({
            key: z.string(),
            complete: z.array(z.string()).optional(),
            sender: z.string().optional(),
            untouched: z.object({ on: z.string(), where: conditions.optional() }).strict().optional(),
            lists: z.record(z.string(), z.object({ on: z.string(), value: z.string() }).strict()).optional(),
          })
          .strict()
          .optional(),
        session: z.object({ key: z.string(), opens: z.string() }).strict().optional(),
      })
      .strict(),
    exercises: z
      .array(
        z
          .object({
            id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an id of lower-case letters, digits and dashes'),
            title: z.string().min(1),
            credit: z.union([rule, z.array(rule).min(1)]),
            hints: z.array(rule).optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

export type LabFile = z.infer<typeof labSchema>;

/**
 * The lab as a class keeps it (its mail workload's label): the lab file's content, checked, with what its folder
 * adds (the server's templates, the handout's text), so that a class never reads a folder that may have moved.
 */
export const storedLabSchema = labSchema
  .extend({ server: z.array(serverTemplateSchema).default([]), handout: handoutSchema.optional() })
  .strict();
export type StoredLab = z.infer<typeof storedLabSchema>;

export interface Account {
  user: string;
  password: string;
}

export interface Lab {
  name: string;
  title: string;
  /** Absolute path of the file the lab was read from. */
  file: string;
  /** The lab's folder: what else it needs (templates, handout, solve) is there. */
  dir: string;
  accounts: Account[];
  pairs: [string, string][];
  /** Bytes one student's server may write in all: the size of their disk. */
  disk: number;
  /** Each service's container port, in the lab's order. */
  services: Record<Service, number>;
  /** How each service is spoken to. */
  protocols: Record<Service, ServiceInfo>;
  /** Debian packages the lab adds to the mail image. */
  image: { packages: string[] };
  /**
   * What the lab adds to each server's configuration: the templates of its folder's server/ (see serverFiles), kept
   * with the lab (in its label), so that a class never reads them from a folder that may have moved.
   */
  server: ServerTemplate[];
  /** The French text of the lab's handout (its folder's handout.yaml), if it has one. */
  handout?: HandoutText;
  /** What the server saw that the exercises are credited on: line patterns and how a message is made. */
  evidence: EvidenceSpec;
  /** In order, each with its rules (credit, hints). */
  exercises: ExerciseSpec[];
  /** The lab file's content, checked, with its folder's server templates and handout: what `up` stores with the class. */
  definition: StoredLab;
}

/** The labs that come with labctl: labs/<name>/lab.yaml. */
export const LABS_DIR = packagePath('labs');
export const DEFAULT_LAB = 'smtp-pop-imap';
export const DEFAULT_LAB_FILE = path.join(LABS_DIR, DEFAULT_LAB, 'lab.yaml');

/**
 * The lab file `--lab` names: a lab of labs/ by its name (smtp-tls), a lab's folder, or a lab file (a path: it has a
 * slash or ends in .yaml).
 */
export async function labFile(ref: string = DEFAULT_LAB): Promise<string> {
  const isPath = /[/\\]/.test(ref) || /\.ya?ml$/i.test(ref) || ref === '.' || ref === '..';
  const abs = isPath ? path.resolve(ref) : path.join(LABS_DIR, ref, 'lab.yaml');
  const info = await stat(abs).catch(() => undefined);
  return info?.isDirectory() ? path.join(abs, 'lab.yaml') : abs;
}

/** Reads and validates a lab: `--lab NAME` (a lab of labs/) or `--lab PATH`. Errors name the file, the field and the line. */
export async function loadLab(ref: string = DEFAULT_LAB): Promise<Lab> {
  const abs = await labFile(ref);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (error) {
    const known = /[/\\]/.test(ref) || /\.ya?ml$/i.test(ref) ? '' : ` (labs here: ${await labNames()})`;
    throw usageError(
      `cannot read lab file ${abs}: ${(error as NodeJS.ErrnoException).code ?? String(error)}${known}`,
      'Check --lab: the name of a lab of labs/, or the path of a lab file or folder.',
    );
  }
  // The lab's folder is the real one: labs/smtp-pop-imap.yaml is a link to smtp-pop-imap/lab.yaml.
  const dir = path.dirname(await realpath(abs).catch(() => abs));
  const lab = parseLab(text, abs, dir);
  const handoutFile = path.join(dir, 'handout.yaml');
  const handout = await readFile(handoutFile, 'utf8').catch(() => undefined);
  return withFolder(
    lab,
    await serverFiles(dir),
    handout === undefined ? undefined : parseHandout(handout, handoutFile, lab),
  );
}

/** The names of the labs in labs/. */
export async function labNames(): Promise<string> {
  const entries = await readdir(LABS_DIR, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .join(', ');
}

export function parseLab(text: string, file: string, dir = path.dirname(file)): Lab {
  return parseYaml(text, file, labSchema, (data) => toLab({ ...data, server: [] }, file, dir));
}

/** The lab with what its folder adds (its server's templates, its handout), which the class keeps with it. */
function withFolder(lab: Lab, server: ServerTemplate[], handout: HandoutText | undefined): Lab {
  const added = { server, ...(handout && { handout }) };
  return { ...lab, ...added, definition: { ...lab.definition, ...added } };
}

function toLab(data: StoredLab, file: string, dir: string): Lab {
  const accounts = Array.from({ length: data.accounts.count }, (_, i) => ({
    user: `${data.accounts.prefix}${i + 1}`,
    password: data.accounts.password,
  }));
  const known = new Set(accounts.map((a) => a.user));
  data.pairs.forEach((pair, i) => {
    pair.forEach((user, j) => {
      if (!known.has(user)) {
        throw new SpecError(
          ['pairs', i, j],
          `"${user}" is not one of the accounts ${accounts[0]!.user}..${accounts.at(-1)!.user}`,
        );
      }
    });
  });
  const services: Record<Service, number> = {};
  const protocols: Record<Service, ServiceInfo> = {};
  for (const [name, declared] of Object.entries(data.services)) {
    const spec = typeof declared === 'number' ? { port: declared } : declared;
    const info = serviceInfo(name, spec);
    if (!info) throw new SpecError(['services', name], `give its protocol (${PROTOCOLS.join(', ')})`);
    if (name === 'ssh' && (info.protocol !== 'ssh' || info.tls !== 'none'))
      throw new SpecError(['services', name], 'ssh is ssh, without TLS');
    services[name] = spec.port;
    protocols[name] = info;
  }
  const collision = portCollision(services);
  if (collision) throw new SpecError(['services', collision.service], collisionText(collision));
  const evidence = data.evidence as EvidenceSpec;
  const exercises = data.exercises as ExerciseSpec[];
  // Every exercise has a rule that can credit it, over events the lab's evidence defines: checked here, once.
  compileRules({ evidence, exercises });
  return {
    name: data.name,
    title: data.title,
    file,
    dir,
    accounts,
    pairs: data.pairs,
    disk: data.disk,
    services,
    protocols,
    image: data.image,
    server: data.server,
    ...(data.handout && { handout: data.handout }),
    evidence,
    exercises,
    definition: data,
  };
}

/**
 * The lab a class runs, from its mail workload's label (what `up` stored there), checked with the lab file's own
 * schema: `info`, `check` and `reset --hard` never read a lab file from a host path that may have moved or changed.
 */
export function labFromLabel(data: string | undefined, file: string | undefined): Lab {
  const where = file ?? '(stored with the class)';
  const refuse = (why: string) =>
    new LabctlError(
      ExitCode.engine,
      `The lab stored with this class cannot be read (${why}).`,
      'Run `labctl up` with the lab file again: it stores the lab with the class.',
    );
  if (!data) throw refuse('a class made by an older labctl, without it');
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw refuse('not JSON');
  }
  const exercises = (json as { exercises?: unknown } | null)?.exercises;
  if (Array.isArray(exercises) && exercises.some((e) => !(e as { credit?: unknown } | null)?.credit)) {
    // A class made before labs held their rules, still running: the lab of that name that comes with labctl gives
    // the rules, when its exercises are the class's (an upgrade of labctl must not make a running class unreadable).
    const bundled = bundledLab((json as { name?: unknown }).name);
    const ids = (list: unknown[]) => list.map((e) => (e as { id?: unknown } | null)?.id).join(',');
    if (bundled && ids(bundled.exercises) === ids(exercises)) return bundled;
    throw refuse("a class made by an older labctl, before labs held their exercises' rules");
  }
  const parsed = storedLabSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw refuse(`${issue.path.join('.') || 'the lab'}: ${issue.message}`);
  }
  try {
    return toLab(parsed.data, where, file === undefined ? '' : path.dirname(file));
  } catch (error) {
    if (error instanceof SpecError) throw refuse(`${error.path.join('.')}: ${error.message}`);
    throw error;
  }
}

/** A lab that comes with labctl (labs/NAME/lab.yaml), by its name; undefined if there is none. */
function bundledLab(name: unknown): Lab | undefined {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(name)) return undefined;
  const file = path.join(LABS_DIR, name, 'lab.yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return parseLab(text, file);
}

export type PasswordPolicy = 'lab' | 'random';

/** Student n's accounts: the lab's password, or (random) one of their own per account, derived from the class token. */
export function studentAccounts(lab: Lab, policy: PasswordPolicy, classToken: string, student: number): Account[] {
  if (policy === 'lab') return lab.accounts;
  return lab.accounts.map((a) => ({ user: a.user, password: studentPassword(classToken, student, a.user) }));
}

/** The two accounts the TD gives student n: pairs wrap, so student 10 uses the first pair again. */
export function pairFor(lab: Lab, student: number): [string, string] {
  return lab.pairs[(student - 1) % lab.pairs.length]!;
}
