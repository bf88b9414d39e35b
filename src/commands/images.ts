import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { ensureImages, type Images } from '../core/images.js';
import { loadLab } from '../core/lab.js';
import { usageError } from '../errors.js';
import { defaultContext, type Context, type RunOptions } from './context.js';

export interface ImagesSaveOptions extends RunOptions {
  output: string;
  lab?: string;
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
  const images: Images = await ensureImages(lab, ctx.engine, ctx.reporter, { signal: ctx.signal });
  const refs = [images.mail, images.sidecar];
  // Ctrl-C: the copy stops and its partial file goes.
  const bytes = await ctx.reporter.task(`Saving ${refs.join(' and ')} to ${options.output}`, async () =>
    ctx.reporter.writeStream(options.output, await ctx.engine.saveImages(refs), { signal: ctx.signal }),
  );
  const result = { file: options.output, images: refs, bytes };
  ctx.reporter.result(
    `Wrote ${refs.length} images (${(result.bytes / 1024 ** 2).toFixed(0)} MiB) to ${options.output}.\n` +
      `On each Swarm node: DOCKER_HOST=ssh://root@NODE labctl images load ${options.output}\n` +
      `  or, where the node's engine listens on TCP, DOCKER_HOST=tcp://NODE:2375 (anyone who reaches that port is ` +
      `root on the node: only on a network no student reaches, else TLS on 2376 with DOCKER_TLS_VERIFY=1)`,
    result,
  );
  return result;
}

export interface ImagesLoadOptions extends RunOptions {
  file: string;
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
  // In a stable order: the engine reports them in the archive's, which Docker's save does not keep.
  const tags = (
    await ctx.reporter.task(`Loading ${options.file} into ${ctx.engine.where}`, () =>
      // Ctrl-C: the upload stops, and the engine, its archive cut short, tags nothing. The failure that follows is
      // the interruption, not the engine's words about an archive cut short.
      ctx.engine.loadImages(createReadStream(options.file, { signal: ctx.signal })).catch((error: unknown) => {
        ctx.signal.throwIfAborted();
        throw error;
      }),
    )
  ).sort();
  if (tags.length === 0)
    throw usageError(`${options.file} held no tagged image.`, 'Write it with `labctl images save -o FILE`.');
  ctx.reporter.result(`Loaded ${tags.join(', ')} into ${ctx.engine.where}.`, { images: tags });
  return tags;
}
