import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { packagePath } from '../paths.js';
import { BASE_IMAGE, type Engine, type ImageFile } from '../docker/engine.js';
import { ExitCode, LabctlError } from '../errors.js';
import type { Lab } from './lab.js';
import { mailImageFiles } from './mail-image.js';
import type { Feedback } from './feedback.js';

export { BASE_IMAGE };
export const IMAGES_DIR = packagePath('images');
const SIDECAR_BUNDLE = packagePath('dist', 'sidecar');

export interface ImageContext {
  name: 'mail' | 'sidecar';
  files: ImageFile[];
  tag: string;
}

export interface Images {
  base: string;
  mail: string;
  sidecar: string;
}

/** Reads every file of images/<name>/ as build-context entries. */
export async function contextFromDir(name: string): Promise<ImageFile[]> {
  const root = path.join(IMAGES_DIR, name);
  const files: ImageFile[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else
        files.push({
          path: path.relative(root, full),
          content: await readFile(full),
          mode: (await stat(full)).mode & 0o777,
        });
    }
  }
  await walk(root);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** A tag that changes whenever the context changes, so `up` knows when a build is needed. */
export function contextTag(repo: string, files: ImageFile[], extra = ''): string {
  const hash = createHash('sha256').update(extra);
  for (const f of files)
    hash
      .update(f.path)
      .update('\0')
      .update(f.content)
      .update(String(f.mode ?? 0o644));
  return `${repo}:${hash.digest('hex').slice(0, 12)}`;
}

/** The images' tags for a lab: each changes with its folder, its rendered files and the base. */
export async function imageContexts(lab: Lab): Promise<{ mail: ImageContext; sidecar: ImageContext }> {
  const mailFiles = [...(await contextFromDir('mail')), ...(await mailImageFiles(lab))];
  // The bundle: sidecar.mjs and the chunks it loads later (scripts/bundle-sidecar.mjs).
  const names = await readdir(SIDECAR_BUNDLE).catch((): string[] => []);
  if (!names.includes('sidecar.mjs'))
    throw new LabctlError(
      ExitCode.build,
      `The sidecar bundle ${path.join(SIDECAR_BUNDLE, 'sidecar.mjs')} is missing.`,
      'Run `npm run build`.',
    );
  const bundle = await Promise.all(
    names
      .filter((name) => name.endsWith('.mjs'))
      .sort()
      .map(async (name) => ({ path: `bundle/${name}`, content: await readFile(path.join(SIDECAR_BUNDLE, name)) })),
  );
  const sidecarFiles = [...(await contextFromDir('sidecar')), ...bundle];
  return {
    mail: { name: 'mail', files: mailFiles, tag: contextTag('labctl/mail', mailFiles, BASE_IMAGE) },
    sidecar: { name: 'sidecar', files: sidecarFiles, tag: contextTag('labctl/sidecar', sidecarFiles, BASE_IMAGE) },
  };
}

/**
 * Builds what is missing on the engine: the base image, then the mail and sidecar images (the layer cache helps).
 * `force`: build them anyway; `contexts`: already read; `signal`: Ctrl-C stops the build, and no image is half-made.
 */
export async function ensureImages(
  lab: Lab,
  engine: Engine,
  feedback: Feedback,
  {
    force = false,
    contexts,
    signal,
  }: { force?: boolean; contexts?: { mail: ImageContext; sidecar: ImageContext }; signal?: AbortSignal } = {},
): Promise<Images> {
  contexts ??= await imageContexts(lab);
  const all = [contexts.mail, contexts.sidecar];
  const exists = await Promise.all(all.map((image) => (force ? false : engine.imageExists(image.tag))));
  const missing = all.filter((_, i) => !exists[i]);
  if (missing.length > 0) {
    await feedback.task(
      'Preparing the base image',
      (update) => engine.ensureBaseImage(update, signal),
      (how) => `Base image ${BASE_IMAGE} ${how}`,
    );
  }
  for (const image of missing) {
    await feedback.task(
      `Building ${image.tag}`,
      (update) => engine.buildImage(image.tag, image.files, update, { BASE_IMAGE }, signal),
      () => `Built ${image.tag}`,
    );
  }
  return { base: BASE_IMAGE, mail: contexts.mail.tag, sidecar: contexts.sidecar.tag };
}
