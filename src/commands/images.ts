import { createReadStream, createWriteStream } from 'node:fs';
import { access, rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { ensureImages, type Images } from '../core/images.js';
import { loadLab } from '../core/lab.js';
import { usageError } from '../errors.js';
import { defaultContext, type Context } from './context.js';

export interface ImagesSaveOptions {
  output: string;
  lab?: string;
  json?: boolean;
}

export interface ImagesSaveResult {
  file: string;
  images: string[];
  bytes: number;
}

/** The lab's mail and sidecar images (with the base's layers they hold) as one archive, built first if missing. */
export async function imagesSave(
  options: ImagesSaveOptions,
  ctx: Context = defaultContext({ ...options, engine: 'local' }),
): Promise<ImagesSaveResult> {
  const lab = await loadLab(options.lab);
  await ctx.engine.ping();
  const images: Images = await ensureImages(lab, ctx.engine, ctx.reporter);
  const refs = [images.mail, images.sidecar];
  // Written aside, then renamed: an interrupted save leaves no archive that looks whole.
  const partial = `${options.output}.partial`;
  await ctx.reporter.task(`Saving ${refs.join(' and ')} to ${options.output}`, async () => {
    try {
      await pipeline(await ctx.engine.saveImages(refs), createWriteStream(partial));
      await rename(partial, options.output);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  });
  const result = { file: options.output, images: refs, bytes: (await stat(options.output)).size };
  ctx.reporter.result(
    `Wrote ${refs.length} images (${(result.bytes / 1024 ** 2).toFixed(0)} MiB) to ${options.output}.\nOn each Swarm node: DOCKER_HOST=ssh://NODE labctl images load ${options.output}`,
    result,
  );
  return result;
}

export interface ImagesLoadOptions {
  file: string;
  json?: boolean;
}

export async function imagesLoad(
  options: ImagesLoadOptions,
  ctx: Context = defaultContext({ ...options, engine: 'local' }),
): Promise<string[]> {
  try {
    await access(options.file);
  } catch {
    throw usageError(`No archive at ${options.file}.`, 'Write one with `labctl images save -o FILE`.');
  }
  await ctx.engine.ping();
  const tags = await ctx.reporter.task(`Loading ${options.file} into ${ctx.engine.where}`, () =>
    ctx.engine.loadImages(createReadStream(options.file)),
  );
  if (tags.length === 0)
    throw usageError(`${options.file} held no tagged image.`, 'Write it with `labctl images save -o FILE`.');
  ctx.reporter.result(`Loaded ${tags.join(', ')} into ${ctx.engine.where}.`, { images: tags });
  return tags;
}
