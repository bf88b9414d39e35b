import { loadLab, type Lab } from '../core/lab.js';
import { mailImageFiles } from '../core/mail-image.js';
import { BASE_IMAGE, buildImage, contextFromDir, contextTag, ensureBaseImage } from '../docker/images.js';
import { defaultContext, type Context } from './context.js';

export interface BuildOptions {
  lab?: string;
  json?: boolean;
}

export interface Images {
  base: string;
  mail: string;
}

/** The mail image's tag for a lab: it changes with the image folder, the rendered accounts and the base. */
export async function mailImageContext(lab: Lab) {
  const files = [...(await contextFromDir('mail')), ...(await mailImageFiles(lab))];
  return { files, tag: contextTag('labctl/mail', files, BASE_IMAGE) };
}

/** Builds what is missing: the base image, then the mail image (the layer cache makes a rebuild fast). */
export async function ensureImages(
  lab: Lab,
  ctx: Context,
  force = false,
  mail?: Awaited<ReturnType<typeof mailImageContext>>,
): Promise<Images> {
  mail ??= await mailImageContext(lab);
  if (!force && (await ctx.engine.imageExists(mail.tag))) return { base: BASE_IMAGE, mail: mail.tag };
  await ctx.reporter.task(
    'Preparing the base image',
    (update) => ensureBaseImage(update),
    (how) => `Base image ${BASE_IMAGE} ${how}`,
  );
  await ctx.reporter.task(
    `Building ${mail.tag}`,
    (update) => buildImage(mail.tag, mail.files, update, { BASE_IMAGE }),
    () => `Built ${mail.tag}`,
  );
  return { base: BASE_IMAGE, mail: mail.tag };
}

export async function build(options: BuildOptions, ctx: Context = defaultContext(options)): Promise<Images> {
  const lab = await loadLab(options.lab);
  await ctx.engine.ping();
  const images = await ensureImages(lab, ctx, true);
  ctx.reporter.result(`Images ready:\n  base  ${images.base}\n  mail  ${images.mail}`, images);
  return images;
}
