import http from 'node:http';
import type * as z from 'zod/mini';
import { describeIssue, HealthSchema, ProgressSchema, type Health, type Progress, type SessionEnd } from './wire.js';

export interface SidecarAddress {
  host: string;
  port: number;
  /** This sidecar's admin key (Authorization: Bearer); /health needs none. */
  key?: string;
}

/** The sidecar answered, but not in the form this labctl knows: most likely a sidecar image of another version. */
export class SidecarMismatchError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(
      `the sidecar's answer to ${path} is not in the form this labctl expects (${detail}); ` +
        'is its image from another version? `labctl up` recreates it',
    );
    this.name = 'SidecarMismatchError';
  }
}

interface Answer {
  status: number;
  body: string;
}

const MAX_BODY = 1024 * 1024;

/**
 * labctl's one client for a student's sidecar: /health, the progress API and the progress reset, each with a
 * timeout and (but /health) this sidecar's admin key. Answers are parsed with the wire schemas (core/wire.ts)
 * that the sidecar checks its own answers against.
 */
export class SidecarClient {
  constructor(private readonly address: SidecarAddress) {}

  /** Resolves to `HTTP 200` when /health answers 200; rejects with what went wrong otherwise. */
  async health(timeoutMs = 2000): Promise<string> {
    await this.report(timeoutMs);
    return 'HTTP 200';
  }

  /** /health's answer when it is 200 (with the server's listeners, where the sidecar has them); rejects otherwise. */
  async report(timeoutMs = 2000): Promise<Health> {
    const { host, port } = this.address;
    const answer = await this.request('GET', '/health', timeoutMs, false, () => {
      return new Error(`no web answer from ${host}:${port} within ${timeoutMs} ms`);
    });
    if (answer.status !== 200) {
      const health = HealthSchema.safeParse(safeJson(answer.body));
      const why =
        health.success && health.data.status !== 'ok' ? ` (${health.data.status}: ${health.data.reason})` : '';
      throw new Error(`web ${host}:${port}/health answered ${answer.status}${why}`);
    }
    return this.parse('/health', HealthSchema, answer.body);
  }

  /** The student's exercises, with the admin key. */
  async progress(timeoutMs = 2000): Promise<Progress> {
    const answer = await this.request('GET', '/api/progress', timeoutMs, true, () => {
      return new Error(`no answer within ${timeoutMs} ms`);
    });
    if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
    return this.parse('/api/progress', ProgressSchema, answer.body);
  }

  /** Clears the student's progress (admin key); resolves to the progress after the reset. */
  async resetProgress(timeoutMs = 5000): Promise<Progress> {
    const answer = await this.request('POST', '/api/reset-progress', timeoutMs, true, () => {
      return new Error('the sidecar did not answer');
    });
    if (answer.status !== 200) throw new Error(`the sidecar answered HTTP ${answer.status}`);
    return this.parse('/api/reset-progress', ProgressSchema, answer.body);
  }

  /** Tells the sidecar when its student's session ends (admin key); resolves to the progress it then shows. */
  async setSession(session: SessionEnd, timeoutMs = 5000): Promise<Progress> {
    const answer = await this.request(
      'POST',
      '/api/session',
      timeoutMs,
      true,
      () => new Error('the sidecar did not answer'),
      JSON.stringify(session),
    );
    if (answer.status === 404) throw new SidecarMismatchError('/api/session', 'it has no session (an older image)');
    if (answer.status !== 200) throw new Error(`the sidecar answered HTTP ${answer.status}`);
    return this.parse('/api/session', ProgressSchema, answer.body);
  }

  private parse<T>(path: string, schema: z.ZodMiniType<T>, body: string): T {
    let data: unknown;
    try {
      data = JSON.parse(body);
    } catch {
      throw new SidecarMismatchError(path, 'not JSON');
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw new SidecarMismatchError(path, describeIssue(parsed.error));
    return parsed.data;
  }

  private request(
    method: 'GET' | 'POST',
    path: string,
    timeoutMs: number,
    withKey: boolean,
    timeoutError: () => Error,
    body?: string,
  ): Promise<Answer> {
    const { host, port, key } = this.address;
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host,
          port,
          path,
          method,
          timeout: timeoutMs,
          headers: {
            ...(withKey && key !== undefined && { authorization: `Bearer ${key}` }),
            ...(body !== undefined && { 'content-type': 'application/json' }),
          },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
            if (body.length > MAX_BODY) req.destroy(new SidecarMismatchError(path, 'an answer over 1 MiB'));
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(timeoutError()));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
