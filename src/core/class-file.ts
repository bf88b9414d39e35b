import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { usageError } from '../errors.js';

/** What `labctl init` writes and the other commands read as their defaults. */
export const classFileSchema = z
  .object({
    class: z.string().regex(/^[a-z0-9][a-z0-9-]{0,23}$/, '1 to 24 lower-case letters, digits or dashes'),
    students: z.number().int().min(1),
    basePort: z.number().int().min(1024).max(64000),
    host: z.string().min(1),
    bind: z.string().min(1).default('0.0.0.0'),
    lab: z.string().min(1),
    passwords: z.enum(['lab', 'random']),
    /** local (default): containers on one engine; swarm: services on a Docker Swarm (see README). */
    engine: z.enum(['local', 'swarm']).optional(),
    /** Swarm placement constraints for new students, e.g. node.labels.room==b12. */
    constraints: z.array(z.string().min(1)).optional(),
    /** Swarm: the registry the nodes pull the images from (`labctl build --push` pushes there). */
    registry: z.string().min(1).optional(),
    /** A graded session's time box, as `up --until` (16:00) or `up --for` (2h): set once, when the class has none. */
    until: z.string().min(1).optional(),
    for: z.string().min(1).optional(),
  })
  .strict();

export type ClassFile = z.infer<typeof classFileSchema>;

export const CLASS_FILE_NAME = 'labctl.yaml';

/** The class file: $LABCTL_CONFIG, else ./labctl.yaml. */
export function classFilePath(): string {
  return path.resolve(process.env.LABCTL_CONFIG ?? CLASS_FILE_NAME);
}

/** Reads the class file if there is one. A lab path in it is relative to the file. */
export function readClassFile(file = classFilePath()): ClassFile | undefined {
  if (!existsSync(file)) return undefined;
  const doc = parseDocument(readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) throw usageError(`${file}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const parsed = classFileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw usageError(
      `${file}: invalid class file:\n${lines.join('\n')}`,
      'Fix it, or write it again with `labctl init`.',
    );
  }
  // A lab path is relative to the file; a lab's name (smtp-tls) is a lab of labs/.
  const lab = parsed.data.lab;
  const isPath = /[/\\]/.test(lab) || /\.ya?ml$/i.test(lab);
  return { ...parsed.data, lab: isPath ? path.resolve(path.dirname(file), lab) : lab };
}

export function formatClassFile(data: ClassFile): string {
  return `# labctl class file, written by \`labctl init\`. The other commands take their defaults from it.\n${stringify(data)}`;
}

/** Writes the class file (not private: it holds no secret). */
export async function writeClassFile(file: string, data: ClassFile): Promise<void> {
  await writeFile(file, formatClassFile(data)).catch((error: Error) => {
    throw usageError(`Cannot write ${file}: ${error.message}`);
  });
}
