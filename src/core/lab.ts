import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { packagePath } from '../paths.js';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { usageError } from '../errors.js';
import { compileRules } from './lab-rules/compile.js';
import { compileText } from './lab-rules/template.js';
import { SpecError, type EvidenceSpec, type ExerciseSpec } from './lab-rules/spec.js';
import { collisionText, portCollision } from './ports.js';
import { PROTOCOLS, serviceInfo, type ServiceInfo } from './services.js';
import { studentPassword } from './token.js';

export { PROTOCOLS, serviceInfo, type Protocol, type ServiceInfo, type TlsMode } from './services.js';

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
const tls = z.enum(['none', 'starttls', 'implicit']).optional();

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
/** A service of the mail container, by the lab's name for it (smtp, submission, imaps, ssh…). */
export type Service = string;

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
}

const step = z
  .object({
    text: z.string(),
    kind: z.enum(['shell', 'smtp', 'pop3', 'imap']).optional(),
    lines: z.array(z.string()).optional(),
    note: z.string().optional(),
  })
  .strict();

/** A lab's handout.yaml: the French text of `labctl handout`, with each student's values in {…}. */
export const handoutSchema = z
  .object({
    intro: z.string().optional(),
    before: z.array(z.string()).default([]),
    tools: z.array(step).default([]),
    client: z.string().optional(),
    exercises: z
      .record(
        z.string(),
        z.object({ goal: z.string(), steps: z.array(step).default([]), question: z.string().optional() }).strict(),
      )
      .default({}),
  })
  .strict();

export type HandoutText = z.infer<typeof handoutSchema>;
/** What a handout's {…} may name. */
export const HANDOUT_VALUES = [
  'n',
  'host',
  'domain',
  'ports',
  'first',
  'second',
  'firstPassword',
  'secondPassword',
  'ca',
  'class',
];

/** A file of a lab's server/ folder: rendered (ejs) to `path` on the server, replacing or added to the base's. */
export interface ServerTemplate {
  /** Where it goes, under / (etc/postfix/main.cf). */
  path: string;
  template: string;
  mode: number;
  /** `main.cf+.ejs`: added at the end of the base's file instead of replacing it. */
  append: boolean;
}

/**
 * The templates of a lab's server/ folder, which mirrors the server's file system under /etc: `etc/x.ejs` renders to
 * /etc/x (replacing the base's, if any), `etc/x+.ejs` is added at the end of the base's /etc/x, and a file without .ejs
 * is copied as it is; an executable one keeps its x bits (the start hooks, etc/labctl/start.d/*.sh).
 */
export async function serverFiles(dir: string): Promise<ServerTemplate[]> {
  const root = path.join(dir, 'server');
  const out: ServerTemplate[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const rel = path.relative(root, full).split(path.sep).join('/');
        const append = rel.endsWith('+.ejs');
        const target = append ? rel.slice(0, -5) : rel.replace(/\.ejs$/, '');
        if (!target.startsWith('etc/'))
          throw usageError(`${full}: a lab's server files go under server/etc/ (the server's /etc)`);
        const text = await readFile(full, 'utf8');
        const template = rel.endsWith('.ejs') ? text : text.replace(/<%/g, '<%%');
        out.push({ path: target, template, mode: (await stat(full)).mode & 0o111 ? 0o755 : 0o644, append });
      }
    }
  };
  await walk(root);
  return out.sort((a, b) => a.path.localeCompare(b.path));
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
  const lab = { ...parseLab(text, abs, dir), server: await serverFiles(dir) };
  const handoutFile = path.join(dir, 'handout.yaml');
  const handout = await readFile(handoutFile, 'utf8').catch(() => undefined);
  return handout === undefined ? lab : { ...lab, handout: parseHandout(handout, handoutFile, lab) };
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

/** The line of the YAML node at `at`, or of its nearest parent that is there. */
function lineOf(doc: Document, counter: LineCounter, at: readonly PropertyKey[]): number | undefined {
  for (let p = [...at]; ; p = p.slice(0, -1)) {
    const node = p.length === 0 ? doc.contents : doc.getIn(p as (string | number)[], true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return counter.linePos(range[0]).line;
    if (p.length === 0) return undefined;
  }
}

/**
 * Reads a YAML file of a lab with its schema, then `check`s it: every problem names the file, the field and its line.
 */
function parseYaml<S extends z.ZodType, T>(text: string, file: string, schema: S, check: (data: z.infer<S>) => T): T {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos?.[0] ? ` (line ${first.linePos[0].line})` : '';
    throw usageError(`${file}${where}: not valid YAML: ${first.message.split('\n')[0]}`);
  }
  const problem = (at: readonly PropertyKey[], message: string) => {
    const field = at.length > 0 ? at.map(String).join('.') : '(top level)';
    const line = lineOf(doc, counter, at);
    return `  ${field}: ${message}${line === undefined ? '' : ` (line ${line})`}`;
  };
  const invalid = (lines: string[]) =>
    usageError(
      `${file}: invalid lab file:\n${lines.join('\n')}`,
      'Fix the fields above; see "Lab format" in the README.',
    );
  const parsed = schema.safeParse(doc.toJS());
  if (!parsed.success) throw invalid(parsed.error.issues.map((issue) => problem(issue.path, issue.message)));
  try {
    return check(parsed.data);
  } catch (error) {
    if (error instanceof SpecError) throw invalid([problem(error.path, error.message)]);
    throw error;
  }
}

export function parseLab(text: string, file: string, dir = path.dirname(file)): Lab {
  return parseYaml(text, file, labSchema, (data) => toLab(data, file, dir));
}

/** A lab's handout.yaml: its exercises are the lab's, and its {…} name a student's values. */
export function parseHandout(text: string, file: string, lab: Pick<Lab, 'exercises'>): HandoutText {
  return parseYaml(text, file, handoutSchema, (data) => {
    const checkText = (value: string, at: (string | number)[]) => {
      for (const p of compileText(value, at).paths) {
        if (!HANDOUT_VALUES.includes(p.split('.')[0]!))
          throw new SpecError(at, `"${p}" is not a student's value (${HANDOUT_VALUES.join(', ')})`);
      }
    };
    const checkStep = (s: z.infer<typeof step>, at: (string | number)[]) => {
      checkText(s.text, [...at, 'text']);
      s.lines?.forEach((l, i) => checkText(l, [...at, 'lines', i]));
      if (s.note !== undefined) checkText(s.note, [...at, 'note']);
    };
    if (data.intro !== undefined) checkText(data.intro, ['intro']);
    data.before.forEach((b, i) => checkText(b, ['before', i]));
    data.tools.forEach((s, i) => checkStep(s, ['tools', i]));
    if (data.client !== undefined) checkText(data.client, ['client']);
    for (const [id, x] of Object.entries(data.exercises)) {
      if (!lab.exercises.some((e) => e.id === id))
        throw new SpecError(['exercises', id], `the lab has no exercise "${id}"`);
      checkText(x.goal, ['exercises', id, 'goal']);
      x.steps.forEach((s, i) => checkStep(s, ['exercises', id, 'steps', i]));
      if (x.question !== undefined) checkText(x.question, ['exercises', id, 'question']);
    }
    return data;
  });
}

function toLab(data: LabFile, file: string, dir: string): Lab {
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
    server: [],
    evidence,
    exercises,
  };
}

/**
 * The lab a class runs, from its mail workload's labels: what `up` stored there, so that `info`, `check` and `reset
 * --hard` never read a lab file from a host path that may have moved or changed. Classes made before the label
 * existed fall back to the file.
 */
export async function labFromLabels(labels: Record<string, string>): Promise<Lab> {
  const data = labels['dev.labctl.lab-data'];
  if (data) {
    try {
      // A class made before disks were bounded stored its lab without one: it gets the default. One made before labs
      // were folders has no folder: its file's.
      const lab = JSON.parse(data) as Partial<Lab> & Pick<Lab, 'name' | 'file'>;
      const services = lab.services ?? {};
      const protocols = Object.fromEntries(Object.keys(services).map((name) => [name, serviceInfo(name)!]));
      return {
        disk: DEFAULT_DISK_BYTES,
        dir: path.dirname(lab.file),
        evidence: { lines: {} },
        image: { packages: [] },
        server: [],
        protocols,
        ...lab,
      } as Lab;
    } catch {
      // an unreadable label: fall back to the file
    }
  }
  return loadLab(labels['dev.labctl.lab-file']);
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
