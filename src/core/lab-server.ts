import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { usageError } from '../errors.js';

/** A file of a lab's server/ folder: rendered (ejs) to `path` on the server, replacing or added to the base's. */
export interface ServerTemplate {
  /** Where it goes, under / (etc/postfix/main.cf). */
  path: string;
  template: string;
  mode: number;
  /** `main.cf+.ejs`: added at the end of the base's file instead of replacing it. */
  append: boolean;
}

/** A server template as the class keeps it (in its lab's label). */
export const serverTemplateSchema = z
  .object({
    path: z
      .string()
      .regex(/^etc\/[^/]/, "under the server's /etc")
      .refine((p) => !p.split('/').includes('..'), 'no .. in it'),
    template: z.string(),
    mode: z.number().int(),
    append: z.boolean(),
  })
  .strict();

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
