import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A class's secret. It stays on the host side: a label on the sidecars and the progress volumes, readable only
 * with Docker access (labctl's trust boundary), never in a container's environment. Every other secret is derived
 * from it, each opening as little as it can:
 * - studentKey: one student's page (read-only);
 * - adminKey: one sidecar's labctl API (progress, reset); it opens no other sidecar;
 * - boardKey: the projector's read-only board (`labctl board --listen`); no sidecar accepts it;
 * - archiveKey: signs the manifest of the class's archives (`labctl archive`); it opens nothing.
 */
export function newClassToken(): string {
  return randomBytes(18).toString('base64url');
}

/** The key in a student's page address: it opens that student's page and nobody else's. */
export function studentKey(classToken: string, student: number): string {
  return createHmac('sha256', classToken).update(`student:${student}`).digest('base64url').slice(0, 16);
}

/** What labctl sends (Bearer) to student n's sidecar, the only sidecar that holds it. */
export function adminKey(classToken: string, student: number): string {
  return createHmac('sha256', classToken).update(`admin:${student}`).digest('base64url');
}

/** The read-only key of the projector's board address; only `labctl board` accepts it. */
export function boardKey(classToken: string): string {
  return createHmac('sha256', classToken).update('board').digest('base64url').slice(0, 22);
}

/** The key that signs (HMAC-SHA256) the manifest of class `className`'s archives, and checks it. */
export function archiveKey(classToken: string, className: string): string {
  return createHmac('sha256', classToken).update(`archive:${className}`).digest('base64url');
}

export function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const PASSWORD_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

/** A student's own password for an account, derived from the class token: the same on every run of `up`. */
export function studentPassword(classToken: string, student: number, user: string): string {
  const digest = createHmac('sha256', classToken).update(`password:${student}:${user}`).digest();
  return Array.from(digest.subarray(0, 10), (byte) => PASSWORD_ALPHABET[byte % PASSWORD_ALPHABET.length]).join('');
}
