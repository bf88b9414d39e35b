import { CsvError, parse } from 'csv-parse/sync';
import { z } from 'zod';
import type { Engine, LabelledObject } from '../docker/engine.js';
import { usageError } from '../errors.js';
import { newestRecord, saveRecord, type ClassRecord } from './class-record.js';
import { LABEL } from './labels.js';

/** One person of the class list, at one seat (the student number of `up`, `info`, `check`). */
export interface Person {
  seat: number;
  name: string;
  email: string;
  /** The student number (Moodle's "ID number"). */
  number: string;
  group?: string;
}

/** The class list as stored with the class. */
export interface Roster {
  class: string;
  /** When it was imported (ISO 8601), and from which file (its base name). */
  importedAt: string;
  source: string;
  people: Person[];
}

/** What a student row or card gains from the roster: who sits there. */
export type PersonFields = Partial<Pick<Person, 'name' | 'email' | 'number' | 'group'>>;

const PersonSchema = z.object({
  seat: z.number().int().positive(),
  name: z.string(),
  email: z.string(),
  number: z.string(),
  group: z.string().optional(),
});
const StoredSchema = z.object({
  importedAt: z.string(),
  source: z.string(),
  people: z.array(PersonSchema),
});

// ------------------------------------------------------------------------------------------------ parsing

type Field = 'name' | 'firstName' | 'email' | 'number' | 'group' | 'seat';

/** Header names, compared without case, accents, spaces or punctuation ("E-mail", "Numéro étudiant"…). */
const HEADERS: Record<Field, string[]> = {
  name: [
    'nom',
    'name',
    'nomcomplet',
    'fullname',
    'nometprenom',
    'nomprenom',
    'studentname',
    'nometudiant',
    'lastname',
    'surname',
  ],
  firstName: ['prenom', 'firstname', 'givenname'],
  email: [
    'email',
    'courriel',
    'mail',
    'mel',
    'emailaddress',
    'adressemail',
    'adresseemail',
    'adressecourriel',
    'adresseelectronique',
  ],
  number: [
    'numero',
    'numeroetudiant',
    'numetudiant',
    'studentnumber',
    'studentid',
    'id',
    'idnumber',
    'matricule',
    'no',
  ],
  group: ['groupe', 'group', 'gr', 'groupetd', 'tdgroup'],
  seat: ['seat', 'poste', 'place'],
};

const normalize = (header: string) =>
  header
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');

/** The separator of the header line: French spreadsheets export semicolons, others commas. */
function separatorOf(text: string): ';' | ',' {
  const header = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  const count = (c: string) => header.split(c).length - 1;
  return count(';') > count(',') ? ';' : ',';
}

const EMAIL = /^[^\s@]+@[^\s@]+$/;

/**
 * Reads a class list (CSV, UTF-8 with or without a BOM, comma or semicolon separated) with a header row naming the
 * columns: name (or last and first name), e-mail and student number, optionally group and seat. Without a seat
 * column, people take seats 1..N in file order. Every error names the line and exits 2.
 */
export function parseRoster(input: string | Buffer, source: string): Person[] {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  const at = (line: number, message: string) => usageError(`${source}, line ${line}: ${message}`);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      delimiter: separatorOf(text),
      info: true,
      skip_empty_lines: true,
      trim: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    if (error instanceof CsvError) {
      const line = typeof error.lines === 'number' ? error.lines : 0;
      throw at(line, `not a valid CSV row (${error.message.replace(/ at line \d+| on line \d+/, '')}).`);
    }
    throw error;
  }
  const [header, ...rows] = records;
  if (!header)
    throw usageError(`${source} is empty: it needs a header row (name, email, student number) and a row per person.`);
  const columns = header.record.map(normalize);
  const column = (field: Field) => columns.findIndex((c) => HEADERS[field].includes(c));
  const index = Object.fromEntries((Object.keys(HEADERS) as Field[]).map((f) => [f, column(f)])) as Record<
    Field,
    number
  >;
  const what: Record<'name' | 'email' | 'number', string> = {
    name: 'name (nom, name)',
    email: 'e-mail (email, e-mail, courriel)',
    number: 'student number (numéro, student number, id)',
  };
  for (const field of ['name', 'email', 'number'] as const) {
    if (index[field] === -1)
      throw at(header.info.lines, `no ${what[field]} column; the header row is: ${header.record.join(', ')}.`);
  }
  if (rows.length === 0) throw usageError(`${source} lists nobody: it has a header row and no one under it.`);

  const people: (Person & { line: number })[] = [];
  const byEmail = new Map<string, number>();
  const byNumber = new Map<string, number>();
  const bySeat = new Map<number, number>();
  for (const [i, { record, info }] of rows.entries()) {
    const line = info.lines;
    // A quoted cell may hold line breaks; a name goes on one line of a card, a table row, a heading.
    const cell = (field: Field) =>
      index[field] === -1 ? '' : (record[index[field]] ?? '').replace(/\s+/g, ' ').trim();
    const name = [cell('firstName'), cell('name')].filter(Boolean).join(' ');
    const email = cell('email');
    const number = cell('number');
    if (!name) throw at(line, 'no name.');
    if (!EMAIL.test(email)) throw at(line, email ? `"${email}" is not an e-mail address.` : 'no e-mail address.');
    if (!number) throw at(line, 'no student number.');
    const seenEmail = byEmail.get(email.toLowerCase());
    if (seenEmail !== undefined) throw at(line, `the e-mail ${email} is already on line ${seenEmail}.`);
    const seenNumber = byNumber.get(number);
    if (seenNumber !== undefined) throw at(line, `the student number ${number} is already on line ${seenNumber}.`);
    let seat = i + 1;
    if (index.seat !== -1) {
      const given = cell('seat');
      if (!/^\d+$/.test(given) || Number(given) < 1) throw at(line, `the seat "${given}" is not a number ≥ 1.`);
      seat = Number(given);
      const seenSeat = bySeat.get(seat);
      if (seenSeat !== undefined) throw at(line, `seat ${seat} is already taken on line ${seenSeat}.`);
    }
    byEmail.set(email.toLowerCase(), line);
    byNumber.set(number, line);
    bySeat.set(seat, line);
    const group = cell('group');
    people.push({ seat, name, email, number, ...(group && { group }), line });
  }
  return people.sort((a, b) => a.seat - b.seat).map(({ line: _line, ...person }) => person);
}

// ------------------------------------------------------------------------------------------------ storage

const ROSTER: ClassRecord<z.infer<typeof StoredSchema>> = {
  role: 'roster',
  label: LABEL.roster,
  schema: StoredSchema,
  time: (r) => r.importedAt,
};

/** The class's roster among its volumes (the newest when an interrupted import left two), or undefined. */
export function rosterOf(className: string, volumes: LabelledObject[]): Roster | undefined {
  const stored = newestRecord(ROSTER, volumes);
  return stored && { class: className, ...stored };
}

/** The class names `up` accepts (src/core/plan.ts): a list is never stored under a name no class can have. */
const CLASS_NAME = /^[a-z0-9][a-z0-9-]{0,23}$/;

/** Stores `people` as the class's roster, replacing any previous one; returns what was stored. */
export async function saveRoster(
  engine: Pick<Engine, 'list' | 'createVolume' | 'removeVolume'>,
  className: string,
  people: Person[],
  source: string,
  now: Date = new Date(),
): Promise<Roster> {
  if (!CLASS_NAME.test(className))
    throw usageError(`"${className}" is not a class name: 1 to 24 lower-case letters, digits or dashes.`);
  // The roster lives with the class (class-record.ts): `down` keeps it, `down --purge` deletes it; a failed import
  // leaves the previous list in place.
  const stored = await saveRecord(engine, ROSTER, className, () => ({ importedAt: now.toISOString(), source, people }));
  return { class: className, ...stored };
}

/** The person at a seat, as the fields a student row or card shows (nothing when the seat is free). */
export function personAt(roster: Roster | undefined, seat: number): PersonFields {
  const p = roster?.people.find((x) => x.seat === seat);
  if (!p) return {};
  return { name: p.name, email: p.email, number: p.number, ...(p.group && { group: p.group }) };
}
