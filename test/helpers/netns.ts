import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL('./netns-client.js', import.meta.url));

/**
 * A machine of its own on the room's network: a network namespace joined to the host by a veth pair on a /30 of
 * 10.250.0.0/16. Servers that the host publishes on `hostAddress` see this client as `clientAddress`, when the
 * engine forwards ports in the kernel (no userland proxy); the host itself reaches them from another address.
 */
export interface Netns {
  name: string;
  hostAddress: string;
  clientAddress: string;
  /** Runs test/helpers/netns-client.ts inside the namespace with one JSON command (see there). */
  client(command: object): ChildProcess;
  remove(): Promise<void>;
}

const ip = (...args: string[]) => run('ip', args);

/** A /30 that no address or route of the host uses, starting from one picked by the process id. */
async function freeSubnet(): Promise<[string, string]> {
  const used = (await ip('-o', '-4', 'addr', 'show')).stdout + (await ip('-4', 'route', 'show')).stdout;
  for (let i = 0; i < 16384; i++) {
    const n = ((process.pid + i) % 16384) * 4;
    const prefix = `10.250.${n >> 8}.`;
    const low = n & 255;
    if ([0, 1, 2, 3].some((k) => new RegExp(`\\b${prefix.replaceAll('.', '\\.')}${low + k}\\b`).test(used))) continue;
    return [`${prefix}${low + 1}`, `${prefix}${low + 2}`];
  }
  throw new Error('no free /30 in 10.250.0.0/16');
}

export async function createNetns(tag = String(process.pid)): Promise<Netns> {
  const name = `labctl-t${tag}`;
  const hostIf = `lh${tag}`.slice(0, 15);
  const nsIf = `ln${tag}`.slice(0, 15);
  await ip('netns', 'del', name).catch(() => {});
  const [hostAddress, clientAddress] = await freeSubnet();
  await ip('netns', 'add', name);
  const remove = async () => {
    // Deleting the namespace deletes its end of the pair, and with it the host's end.
    await ip('netns', 'del', name).catch(() => {});
    await ip('link', 'del', hostIf).catch(() => {});
  };
  try {
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    await ip('link', 'set', nsIf, 'netns', name);
    await ip('addr', 'add', `${hostAddress}/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('-n', name, 'addr', 'add', `${clientAddress}/30`, 'dev', nsIf);
    await ip('-n', name, 'link', 'set', nsIf, 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
    await ip('-n', name, 'route', 'add', 'default', 'via', hostAddress);
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    name,
    hostAddress,
    clientAddress,
    client: (command) =>
      spawn('ip', ['netns', 'exec', name, process.execPath, CLIENT, JSON.stringify(command)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    remove,
  };
}

/** Reads the JSON lines a client writes, one at a time; `until(key)` skips to the next line that has `key`. */
export function jsonLines(child: ChildProcess): {
  next: () => Promise<Record<string, unknown>>;
  until: <T>(key: string) => Promise<T>;
} {
  const lines: string[] = [];
  let buffer = '';
  let waiter: (() => void) | undefined;
  let ended = false;
  child.stdout!.on('data', (c: Buffer) => {
    buffer += c.toString();
    let i: number;
    while ((i = buffer.indexOf('\n')) >= 0) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
    }
    waiter?.();
  });
  child.on('close', () => {
    ended = true;
    waiter?.();
  });
  const next = async () => {
    while (lines.length === 0) {
      if (ended) throw new Error('the client in the namespace ended');
      await new Promise<void>((resolve) => (waiter = resolve));
    }
    return JSON.parse(lines.shift()!) as Record<string, unknown>;
  };
  const until = async <T>(key: string): Promise<T> => {
    for (;;) {
      const line = await next();
      if (key in line) return line[key] as T;
    }
  };
  return { next, until };
}
