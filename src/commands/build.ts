import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadLab, type Lab } from '../core/lab.js';
import { mailImageFiles } from '../core/mail-image.js';
import {
  BASE_IMAGE,
  buildImage,
  contextFromDir,
  contextTag,
  ensureBaseImage,
  type ContextFile,
} from '../docker/images.js';
import { ExitCode, LabctlError } from '../errors.js';
import { defaultContext, type Context } from './context.js';

export interface BuildOptions {
  lab?: string;
  json?: boolean;
}

export interface ImageContext {
  name: 'mail' | 'sidecar';
  files: ContextFile[];
  tag: string;
}

export interface Images {
  base: string;
  mail: string;
  sidecar: string;
}

const SIDECAR_BUNDLE = fileURLToPath(new URL('../../sidecar/sidecar.mjs', import.meta.url));

/** The images' tags for a lab: each changes with its folder, its rendered files and the base. */
export async function imageContexts(lab: Lab): Promise<{ mail: ImageContext; sidecar: ImageContext }> {
  const mailFiles = [...(await contextFromDir('mail')), ...(await mailImageFiles(lab))];
  const bundle = await readFile(SIDECAR_BUNDLE).catch(() => {
    throw new LabctlError(ExitCode.build, `The sidecar bundle ${SIDECAR_BUNDLE} is missing.`, 'Run `npm run build`.');
  });
  const sidecarFiles = [...(await contextFromDir('sidecar')), { path: 'sidecar.mjs', content: bundle }];
  return {
    mail: { name: 'mail', files: mailFiles, tag: contextTag('labctl/mail', mailFiles, BASE_IMAGE) },
    sidecar: { name: 'sidecar', files: sidecarFiles, tag: contextTag('labctl/sidecar', sidecarFiles, BASE_IMAGE) },
  };
}

/** Builds what is missing: the base image, then the mail and sidecar images (the layer cache makes a rebuild fast). */
export async function ensureImages(
  lab: Lab,
  ctx: Context,
  force = false,
  contexts?: { mail: ImageContext; sidecar: ImageContext },
): Promise<Images> {
  contexts ??= await imageContexts(lab);
  const all = [contexts.mail, contexts.sidecar];
  const missing = [];
  for (const image of all) if (force || !(await ctx.engine.imageExists(image.tag))) missing.push(image);
  if (missing.length > 0) {
    await ctx.reporter.task(
      'Preparing the base image',
      (update) => ensureBaseImage(update),
      (how) => `Base image ${BASE_IMAGE} ${how}`,
    );
  }
  for (const image of missing) {
    await ctx.reporter.task(
      `Building ${image.tag}`,
      (update) => buildImage(image.tag, image.files, update, { BASE_IMAGE }),
      () => `Built ${image.tag}`,
    );
  }
  return { base: BASE_IMAGE, mail: contexts.mail.tag, sidecar: contexts.sidecar.tag };
}

export async function build(options: BuildOptions, ctx: Context = defaultContext(options)): Promise<Images> {
  const lab = await loadLab(options.lab);
  await ctx.engine.ping();
  const images = await ensureImages(lab, ctx, true);
  ctx.reporter.result(
    `Images ready:\n  base     ${images.base}\n  mail     ${images.mail}\n  sidecar  ${images.sidecar}`,
    images,
  );
  return images;
}
