import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { packagePath } from '../paths.js';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ExitCode, LabctlError, usageError } from '../errors.js';
import { collisionText, portCollision } from './ports.js';
import type { Service } from './services.js';
import { studentPassword } from './token.js';

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
      .record(z.enum(['smtp', 'pop3', 'imap', 'ssh']), z.number().int().min(1).max(65535))
      .refine((s) => ['smtp', 'pop3', 'imap', 'ssh'].every((k) => k in s), 'smtp, pop3, imap and ssh ports'),
    exercises: z
      .array(
        z.object({
          id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an id of lower-case letters, digits and dashes'),
          title: z.string().min(1),
        }),
      )
      .default([]),
  })
  .strict();

export type LabFile = z.infer<typeof labSchema>;
export { SERVICES, type Service } from './services.js';

export interface Account {
  user: string;
  password: string;
}

export interface Lab {
  name: string;
  title: string;
  /** Absolute path of the file the lab was read from. */
  file: string;
  accounts: Account[];
  pairs: [string, string][];
  /** Bytes one student's server may write in all: the size of their disk. */
  disk: number;
  services: Record<Service, number>;
  exercises: { id: string; title: string }[];
  /** The lab file's content, checked: what `up` stores with the class. */
  definition: LabFile;
}

export const DEFAULT_LAB_FILE = packagePath('labs', 'smtp-pop-imap.yaml');

/** Reads and validates a lab file. Errors name the file, the field and what is expected. */
export async function loadLab(file: string = DEFAULT_LAB_FILE): Promise<Lab> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (error) {
    throw usageError(
      `cannot read lab file ${abs}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      'Check the --lab path.',
    );
  }
  return parseLab(text, abs);
}

export function parseLab(text: string, file: string): Lab {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos?.[0] ? ` (line ${first.linePos[0].line})` : '';
    throw usageError(`${file}${where}: not valid YAML: ${first.message.split('\n')[0]}`);
  }
  const parsed = labSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      return `  ${field}: ${issue.message}`;
    });
    throw usageError(
      `${file}: invalid lab file:\n${lines.join('\n')}`,
      'Fix the fields above; see "Lab file format" in the README.',
    );
  }
  return toLab(parsed.data, file);
}

function toLab(data: LabFile, file: string): Lab {
  const accounts = Array.from({ length: data.accounts.count }, (_, i) => ({
    user: `${data.accounts.prefix}${i + 1}`,
    password: data.accounts.password,
  }));
  const known = new Set(accounts.map((a) => a.user));
  data.pairs.forEach((pair, i) => {
    pair.forEach((user, j) => {
      if (!known.has(user)) {
        throw usageError(
          `${file}: invalid lab file:\n  pairs.${i}.${j}: "${user}" is not one of the accounts ${accounts[0]!.user}..${accounts.at(-1)!.user}`,
        );
      }
    });
  });
  const ids = new Set<string>();
  data.exercises.forEach((exercise, i) => {
    if (ids.has(exercise.id))
      throw usageError(`${file}: invalid lab file:\n  exercises.${i}.id: "${exercise.id}" appears twice`);
    ids.add(exercise.id);
  });
  const services = data.services as Record<Service, number>;
  const collision = portCollision(services);
  if (collision) {
    throw usageError(`${file}: invalid lab file:\n  services.${collision.service}: ${collisionText(collision)}`);
  }
  return {
    name: data.name,
    title: data.title,
    file,
    accounts,
    pairs: data.pairs,
    disk: data.disk,
    services,
    exercises: data.exercises,
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
  const parsed = labSchema.safeParse(definitionOf(json));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw refuse(`${issue.path.join('.') || 'the lab'}: ${issue.message}`);
  }
  return toLab(parsed.data, where);
}

/** A class made before the lab's definition was stored kept the expanded lab (accounts as a list): its definition. */
function definitionOf(json: unknown): unknown {
  const old = json as { accounts?: unknown; file?: unknown } | null;
  if (!old || !Array.isArray(old.accounts)) return json;
  const accounts = old.accounts as { user: string; password: string }[];
  const { file: _file, ...rest } = old as Record<string, unknown>;
  return {
    ...rest,
    accounts: {
      prefix: accounts[0]?.user.replace(/\d+$/, '') ?? '',
      count: accounts.length,
      password: accounts[0]?.password ?? '',
    },
  };
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
