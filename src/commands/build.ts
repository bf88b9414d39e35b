import { ensureImages, type Images } from '../core/images.js';
import { loadLab } from '../core/lab.js';
import { defaultContext, type Context } from './context.js';

export interface BuildOptions {
  lab?: string;
  json?: boolean;
}

export async function build(options: BuildOptions, ctx: Context = defaultContext(options)): Promise<Images> {
  const lab = await loadLab(options.lab);
  await ctx.engine.ping();
  const images = await ensureImages(lab, ctx.engine, ctx.reporter, true);
  ctx.reporter.result(
    `Images ready:\n  base     ${images.base}\n  mail     ${images.mail}\n  sidecar  ${images.sidecar}`,
    images,
  );
  return images;
}
