import { rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

export interface EngineProxy {
  /** unix:///…: give it as DOCKER_HOST. */
  host: string;
  env: { DOCKER_HOST: string };
  close(): Promise<void>;
}

/**
 * The machine's Docker engine behind a socket of its own, which passes every API call through but changes the body
 * of each container creation with `rewrite` (say, an engine that will not grant a capability, as a locked-down or
 * rootless one). Streams (logs, events) pass as they come; hijacked connections (attach, exec) are not supported.
 */
export async function startEngineProxy(
  rewrite: (create: Record<string, unknown>) => Record<string, unknown>,
  upstream = '/var/run/docker.sock',
): Promise<EngineProxy> {
  const socket = path.join(os.tmpdir(), `labctl-engine-proxy-${process.pid}-${Date.now()}.sock`);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.method === 'POST' && /^(\/v[\d.]+)?\/containers\/create(\?|$)/.test(req.url ?? '')) {
        body = Buffer.from(JSON.stringify(rewrite(JSON.parse(body.toString()) as Record<string, unknown>)));
      }
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const out = http.request({ socketPath: upstream, method: req.method, path: req.url, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on('error', (error) => res.destroy(error));
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const host = `unix://${socket}`;
  return {
    host,
    env: { DOCKER_HOST: host },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(socket, { force: true });
    },
  };
}
