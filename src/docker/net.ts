import net from 'node:net';

/** Addresses as the engine and DOCKER_HOST give them: where a published port answers, and whether one is free. */

export const isWildcard = (ip: string) => ip === '' || ip === '0.0.0.0' || ip === '::';
export const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1' || ip === 'localhost';

/** The host of DOCKER_HOST (tcp://h:2376, ssh://user@h), or undefined when the engine is on this machine's socket. */
export function remoteEngineHost(dockerHost = process.env.DOCKER_HOST): string | undefined {
  if (!dockerHost || /^(unix|npipe):/.test(dockerHost)) return undefined;
  try {
    return new URL(dockerHost).hostname.replace(/^\[|\]$/g, '') || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where a port published on `bind` answers, seen from here: a specific outside address is itself; otherwise the
 * engine's host when the engine is elsewhere (DOCKER_HOST), else loopback.
 */
export function publishedAddress(bind: string, remote = remoteEngineHost()): string {
  if (!isWildcard(bind) && !isLoopback(bind)) return bind;
  if (remote) return remote;
  return isWildcard(bind) ? '127.0.0.1' : bind;
}

/** Where a workload's ports answer: the node it runs on, when it has one outside this host; else as published. */
export function workloadAddress(bind: string, node?: string): string {
  return node && !isLoopback(node) ? node : publishedAddress(bind);
}

/** Whether `port` can be bound on `host` here: what says whether the engine can publish it on this machine. */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
