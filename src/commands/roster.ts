import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeClass } from '../core/observed-class.js';
import type { ClassObjects } from '../docker/engine.js';
import { parseRoster, rosterOf, saveRoster, type Roster } from '../core/roster.js';
import { conflictError, usageError } from '../errors.js';
import { table } from '../ui/tables.js';
import { DEFAULT_CLASS, defaultContext, type Context, type RunOptions } from './context.js';

export interface RosterImportOptions extends RunOptions {
  className?: string;
  file: string;
}

export interface RosterShowOptions extends RunOptions {
  className?: string;
}

function rosterTable(roster: Roster, seats: Set<number>): string {
  const free = (seat: number) => (seats.size > 0 && !seats.has(seat) ? 'no such student in the class' : '');
  return table(
    ['seat', 'name', 'email', 'number', 'group', ''],
    roster.people.map((p) => [p.seat, p.name, p.email, p.number, p.group ?? '', free(p.seat)]),
  );
}

/** The class's seats (students with a mail server); none when it is not up. */
const seatsOf = (className: string, objects: ClassObjects, engine: Context['engine']) =>
  new Set(
    decodeClass(className, objects, engine)
      ?.students.filter((s) => s.mail)
      .map((s) => s.student) ?? [],
  );

/**
 * Reads a class list and stores it with the class, replacing the previous one. Nothing changes when the file is
 * wrong (exit 2, naming the line) or when the class is up with fewer seats than the list needs (exit 3).
 */
export async function rosterImport(
  options: RosterImportOptions,
  ctx: Context = defaultContext(options),
): Promise<Roster> {
  const className = options.className ?? DEFAULT_CLASS;
  let content: Buffer;
  try {
    content = await readFile(options.file);
  } catch (error) {
    throw usageError(`Cannot read ${options.file}: ${(error as Error).message}`);
  }
  const people = parseRoster(content, path.basename(options.file));
  await ctx.engine.ping();
  const objects = await ctx.engine.list(className);
  const seats = seatsOf(className, objects, ctx.engine);
  const seatless = people.filter((p) => seats.size > 0 && !seats.has(p.seat));
  if (seatless.length > 0) {
    const last = Math.max(...people.map((p) => p.seat));
    throw conflictError(
      `Class ${className} has ${seats.size} student(s), and the list seats ${people.length} people (up to seat ${last}): ${seatless
        .map((p) => `${p.name} (seat ${p.seat})`)
        .join(', ')} would have no server. Nothing was imported.`,
      `Grow the class first (\`labctl up --class ${className} --students ${last}\`), or shorten the list.`,
      'roster-too-big',
    );
  }
  const previous = rosterOf(className, objects.volumes);
  const roster = await saveRoster(ctx.engine, className, people, path.basename(options.file));
  const replaced = previous
    ? ` It replaces the previous list (${previous.people.length} people, from ${previous.source}, imported ${previous.importedAt}).`
    : '';
  const notUp =
    seats.size === 0
      ? ` Class ${className} is not up: names show once \`labctl up --class ${className} --students ${people.length}\` runs.`
      : '';
  ctx.reporter.result(
    `${rosterTable(roster, seats)}\n\nImported ${people.length} people into class ${className}.${replaced}${notUp}`,
    { ...roster, replaced: previous ? { source: previous.source, importedAt: previous.importedAt } : null },
  );
  return roster;
}

/** Prints the class's roster: who sits at which seat. */
export async function rosterShow(options: RosterShowOptions, ctx: Context = defaultContext(options)): Promise<Roster> {
  const className = options.className ?? DEFAULT_CLASS;
  await ctx.engine.ping();
  const objects = await ctx.engine.list(className);
  const roster = rosterOf(className, objects.volumes);
  if (!roster) {
    throw usageError(
      `Class ${className} has no roster.`,
      `Import one with \`labctl roster import FILE.csv --class ${className}\`.`,
    );
  }
  ctx.reporter.result(
    `Class ${className}: ${roster.people.length} people, from ${roster.source} (imported ${roster.importedAt})\n${rosterTable(roster, seatsOf(className, objects, ctx.engine))}`,
    roster,
  );
  return roster;
}
