import type { z } from 'zod';
import type { Engine, LabelledObject } from '../docker/engine.js';
import { LABEL } from './labels.js';

/**
 * A record kept on the engine with a class (its roster, its session): a volume labelled with the class, so `down`
 * keeps it and `down --purge` deletes it like the mailboxes, whose label holds the record as JSON. Labels cannot
 * change, so a change writes a new volume and then removes the old ones: an interrupted change leaves a record, and
 * the newest one (by its own time) wins. Writers hold the class's lock (class-lock.ts).
 */
export interface ClassRecord<T> {
  /** The volume's `dev.labctl.role`, also in its name. */
  role: string;
  /** The label that holds the record. */
  label: (typeof LABEL)[keyof typeof LABEL];
  schema: z.ZodType<T, unknown>;
  /** The record's own time (ISO): the newest wins, and it names the volume. */
  time: (record: T) => string;
}

const recordsOf = <T>(kind: ClassRecord<T>, volumes: LabelledObject[]) =>
  volumes.filter((v) => v.labels[LABEL.role] === kind.role && v.labels[kind.label] !== undefined);

function parse<T>(kind: ClassRecord<T>, volume: LabelledObject): T | undefined {
  try {
    return kind.schema.parse(JSON.parse(volume.labels[kind.label]!));
  } catch {
    return undefined; // not one labctl wrote
  }
}

/** The class's record among its volumes (the newest, when an interrupted change left two), or undefined. */
export function newestRecord<T>(kind: ClassRecord<T>, volumes: LabelledObject[]): T | undefined {
  let newest: T | undefined;
  for (const volume of recordsOf(kind, volumes)) {
    const record = parse(kind, volume);
    if (record !== undefined && (newest === undefined || kind.time(record) > kind.time(newest))) newest = record;
  }
  return newest;
}

/**
 * Stores the record that `make` builds from the ones it replaces (readable ones only), then removes those: the new
 * volume first, so an interrupted change leaves a record.
 */
export async function saveRecord<T>(
  engine: Pick<Engine, 'list' | 'createVolume' | 'removeVolume'>,
  kind: ClassRecord<T>,
  className: string,
  make: (previous: T[]) => T,
): Promise<T> {
  const previous = recordsOf(kind, (await engine.list(className)).volumes);
  const record = make(previous.map((v) => parse(kind, v)).filter((r): r is T => r !== undefined));
  await engine.createVolume(`labctl-${className}-${kind.role}-${Date.parse(kind.time(record)).toString(36)}`, {
    [LABEL.class]: className,
    [LABEL.role]: kind.role,
    [kind.label]: JSON.stringify(record),
  });
  for (const volume of previous) await engine.removeVolume(volume.name);
  return record;
}
