import type Docker from 'dockerode';
import tar from 'tar-stream';
import type { ImageFile } from '../engine.js';
import { follow } from './progress.js';

function packContext(files: ImageFile[]): tar.Pack {
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.path, mode: f.mode ?? 0o644 }, f.content);
  pack.finalize();
  return pack;
}

/** Builds `tag` from `files`, labelled with its repository under `imageLabel`; a failed step is an error. */
export async function buildImage(
  docker: Docker,
  imageLabel: string,
  tag: string,
  files: ImageFile[],
  onStep: (line: string) => void,
  buildargs: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<void> {
  signal?.throwIfAborted();
  const stream = await docker.buildImage(packContext(files) as unknown as NodeJS.ReadableStream, {
    t: tag,
    buildargs,
    labels: { [imageLabel]: tag.split(':')[0]! },
    rm: true,
    forcerm: true,
  });
  // An abort closes the connection: the engine cancels the build, and tags nothing.
  await follow(docker, stream, onStep, signal);
}
