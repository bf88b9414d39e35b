/** Docker's attached streams: stdout and stderr multiplexed in frames (logs, exec, service logs). */

/** Splits Docker's multiplexed stdout/stderr frames. */
export function demux(buffer: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const type = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    const frame = buffer.subarray(offset + 8, offset + 8 + size);
    (type === 2 ? err : out).push(frame);
    offset += 8 + size;
  }
  if (offset === 0 && buffer.length > 0) return { stdout: buffer.toString(), stderr: '' };
  return { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** Reads a stream to its end (dockerode gives some answers as a Buffer, some as a stream). */
export async function readAll(stream: Buffer | NodeJS.ReadableStream): Promise<Buffer> {
  if (Buffer.isBuffer(stream)) return stream;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/**
 * Waits until `stream` ends; an abort of `signal` destroys it and resolves (an error after the abort is no error).
 */
export function streamEnded(stream: NodeJS.ReadableStream & { destroy(): void }, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const abort = () => {
      stream.destroy();
      resolve();
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', (error) => (signal?.aborted ? resolve() : reject(error)));
  });
}

/**
 * Until `stream` closes, an abort of `signal` destroys it (the engine, its client gone, stops the build or the push)
 * and gives the signal's reason to `stopped`.
 */
export function destroyOnAbort(
  stream: NodeJS.ReadableStream,
  signal: AbortSignal | undefined,
  stopped: (reason: Error) => void,
): void {
  if (!signal) return;
  const stop = () => {
    stopped(signal.reason as Error);
    (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
  };
  if (signal.aborted) return stop();
  signal.addEventListener('abort', stop, { once: true });
  stream.on('close', () => signal.removeEventListener('abort', stop));
}
