import type Docker from 'dockerode';
import { failed } from '../errors.js';
import { readAll } from '../streams.js';

/** Images carried between engines as one archive in `docker save`'s format. */

export async function saveImages(docker: Docker, refs: string[]): Promise<NodeJS.ReadableStream> {
  try {
    // GET /images/get?names=…: dockerode has it, its types do not.
    const client = docker as unknown as { getImages(options: { names: string[] }): Promise<NodeJS.ReadableStream> };
    return await client.getImages({ names: refs });
  } catch (error) {
    throw failed(`save images ${refs.join(', ')}`, error);
  }
}

/** Loads an archive; resolves to the tags it held. */
export async function loadImages(docker: Docker, archive: NodeJS.ReadableStream): Promise<string[]> {
  try {
    const output = await readAll(await docker.loadImage(archive, { quiet: true }));
    const tags: string[] = [];
    for (const line of output.toString().split('\n').filter(Boolean)) {
      const event = JSON.parse(line) as { stream?: string; error?: string; errorDetail?: { message?: string } };
      if (event.error) throw new Error(event.errorDetail?.message ?? event.error);
      const m = /Loaded image: (\S+)/.exec(event.stream ?? '');
      if (m) tags.push(m[1]!);
    }
    return tags;
  } catch (error) {
    throw failed('load images', error);
  }
}
