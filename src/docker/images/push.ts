import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { destroyOnAbort } from '../streams.js';
import type { ProgressEvent } from './progress.js';

/** `host:5000/labctl/mail:abc` as its repository and tag (`latest` when it names none). */
export function splitReference(ref: string): { repo: string; tag: string } {
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/')
    ? { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) }
    : { repo: ref, tag: 'latest' };
}

const DIGEST = /sha256:[0-9a-f]{64}/;

/**
 * Tags `ref` as `registry/ref` and pushes it; a refused push (no registry there, no auth) is an engine error.
 * Resolves to the pushed image by the digest the registry gave for it, `registry/ref@sha256:…`: whoever can write
 * to the registry can move its tag, not that digest.
 */
export async function pushImage(
  docker: Docker,
  ref: string,
  registry: string,
  onStep: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const target = `${registry.replace(/\/+$/, '')}/${ref}`;
  const { repo, tag } = splitReference(target);
  let digest: string | undefined;
  try {
    await docker.getImage(ref).tag({ repo, tag });
    // Docker wants an X-Registry-Auth header even for a registry without auth.
    const stream = (await docker.getImage(target).push({ authconfig: {} })) as unknown as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      // Ctrl-C: the connection closes, and the engine stops the push.
      destroyOnAbort(stream, signal, reject);
      docker.modem.followProgress(
        stream,
        (error: Error | null) => (error ? reject(error) : resolve()),
        (event: ProgressEvent) => {
          if (event.error || event.errorDetail) return reject(new Error(event.errorDetail?.message ?? event.error));
          digest = DIGEST.exec(event.aux?.Digest ?? '')?.[0] ?? digest;
          if (event.status && /^(Pushed|Layer already exists|.*digest:)/.test(event.status)) onStep(event.status);
        },
      );
    });
    if (!digest) throw new Error('the registry gave no digest for the image');
    return `${target}@${digest}`;
  } catch (error) {
    // A push that failed leaves no registry name behind on this engine.
    await docker
      .getImage(target)
      .remove({ noprune: true })
      .catch(() => {});
    if (signal?.aborted) throw signal.reason;
    const e = error as Error & { json?: { message?: string } };
    throw new LabctlError(
      ExitCode.engine,
      `Failed to push ${target}: ${(e.json?.message ?? e.message).trim()}`,
      `Check that a registry answers at ${registry} and that this engine may push there (docker login; a registry without TLS must be in dockerd's insecure-registries, loopback excepted).`,
    );
  }
}
