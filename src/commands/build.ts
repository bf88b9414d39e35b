import { ensureImages, type Images } from '../core/images.js';
import { loadLab } from '../core/lab.js';
import { defaultContext, type Context, type RunOptions } from './context.js';

export interface BuildOptions extends RunOptions {
  lab?: string;
  /** A registry (host[:port]) to push the mail and sidecar images to, for Swarm nodes to pull. */
  push?: string;
}

export async function build(
  options: BuildOptions,
  ctx: Context = defaultContext({ ...options, engine: 'local' }),
): Promise<Images & { pushed?: string[] }> {
  const lab = await loadLab(options.lab);
  await ctx.engine.ping();
  const images = await ensureImages(lab, ctx.engine, ctx.reporter, { force: true, signal: ctx.signal });
  const lines = [`Images ready:\n  base     ${images.base}\n  mail     ${images.mail}\n  sidecar  ${images.sidecar}`];
  const pushed: string[] = [];
  if (options.push) {
    for (const ref of [images.mail, images.sidecar]) {
      pushed.push(
        await ctx.reporter.task(`Pushing ${ref} to ${options.push}`, (update) =>
          ctx.engine.pushImage(ref, options.push!, update, ctx.signal),
        ),
      );
    }
    lines.push(
      `Pushed:\n${pushed.map((p) => `  ${p}`).join('\n')}\nOn Swarm: labctl up --engine swarm --registry ${options.push}`,
    );
  }
  const result = options.push ? { ...images, pushed } : images;
  ctx.reporter.result(lines.join('\n'), result);
  return result;
}
