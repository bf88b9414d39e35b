import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { destroyOnAbort } from '../streams.js';

/** One event of a build, pull, push or import progress stream. */
export interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string };
}

/**
 * Follows a build or import progress stream. dockerode resolves even when the build failed,
 * so the error events are looked for here, and the failing step and its output are kept.
 * An abort of `signal` closes the stream (the engine stops the work) and rejects with the signal's reason.
 */
export function follow(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onStep: (line: string) => void,
  signal?: AbortSignal,
): Promise<{ output: string[]; step: string }> {
  const output: string[] = [];
  let step = '';
  return new Promise((resolve, reject) => {
    destroyOnAbort(stream, signal, reject);
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(error) : resolve({ output, step })),
      (event: ProgressEvent) => {
        if (event.error || event.errorDetail) {
          const message = event.errorDetail?.message ?? event.error ?? 'unknown error';
          reject(
            new LabctlError(
              ExitCode.build,
              `Build failed at ${step || 'the first step'}:\n${output.slice(-25).join('\n')}\n${message}`,
              'Fix the step above and run `labctl build` again.',
            ),
          );
          return;
        }
        const text = (event.stream ?? event.status ?? '').trimEnd();
        if (!text) return;
        for (const line of text.split('\n')) {
          output.push(line);
          if (/^Step \d+\/\d+ :/.test(line)) {
            step = line;
            onStep(line);
          }
        }
      },
    );
  });
}
