import { ExitCode, LabctlError } from '../errors.js';

/** What dockerode rejects with: the HTTP status, a socket error code, the engine's message. */
export interface DockerError extends Error {
  statusCode?: number;
  code?: string;
  json?: { message?: string };
}

/** Turns a failed Docker call into an error that says what labctl was doing (a LabctlError passes as it is). */
export function failed(action: string, error: unknown): Error {
  const e = error as DockerError;
  if (e instanceof LabctlError) return e;
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'EACCES') return engineUnreachable(e);
  const detail = e.json?.message ?? e.message;
  return new LabctlError(ExitCode.engine, `Failed to ${action}: ${detail.trim()}`);
}

export function engineUnreachable(e: DockerError): LabctlError {
  const where = process.env.DOCKER_HOST ?? '/var/run/docker.sock';
  return new LabctlError(
    ExitCode.engine,
    `No Docker engine answers at ${where} (${e.code ?? e.message}).`,
    'Start one with `labctl doctor --fix` (Debian, as root), or set DOCKER_HOST.',
  );
}

/** The engine's own message for a failed call ('' when it gave none). */
export const engineMessage = (error: unknown): string => (error as DockerError).json?.message ?? '';

/** Whether a failed call failed with one of these HTTP statuses (404: no such object, 409: in use or taken). */
export const statusIs = (error: unknown, ...codes: number[]): boolean =>
  codes.includes((error as DockerError).statusCode ?? 0);

/** Waits for a removal; an object that is already gone is fine. */
export async function removed(what: string, removal: Promise<unknown>): Promise<void> {
  try {
    await removal;
  } catch (error) {
    if (statusIs(error, 404)) return;
    throw failed(`remove ${what}`, error);
  }
}
