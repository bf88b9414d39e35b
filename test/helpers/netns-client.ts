import net from 'node:net';
import { createInterface } from 'node:readline';
import { Session } from './session.js';

/**
 * The client that test/helpers/netns.ts runs inside a network namespace, given one JSON command:
 * - `{"hold": {"host", "ports": {name: port}, "count", "http": [names]}}` opens `count` sockets to each port and
 *   holds them idle (to an HTTP port, a request whose headers never end). Once every socket is connected (in the
 *   server's queue, ahead of anyone else's) and each port has answered one, it prints `{"ready": summary}`; once
 *   each socket has been greeted (its first line), closed by the server, or, for HTTP, connected,
 *   `{"settled": summary}`; on each "report" line on stdin, `{"report": summary}`. It closes everything when stdin
 *   ends.
 * - `{"pop": {"host", "port", "user", "password"}}` logs in over POP3 and quits; prints `{"pop": [the server's lines]}`.
 * A summary gives, per port name: how many sockets are open, how many were greeted, how many the server closed,
 * and the first lines it greeted with (each with its count).
 */
interface Held {
  connected: boolean;
  first?: string;
  closed: boolean;
}

function hold(host: string, ports: Record<string, number>, count: number, http: string[]): void {
  const held = new Map<string, Held[]>();
  const summary = () =>
    Object.fromEntries(
      [...held].map(([name, sockets]) => {
        const first: Record<string, number> = {};
        for (const s of sockets) if (s.first !== undefined) first[s.first] = (first[s.first] ?? 0) + 1;
        return [
          name,
          {
            open: sockets.filter((s) => s.connected && !s.closed).length,
            greeted: sockets.filter((s) => s.first !== undefined).length,
            closed: sockets.filter((s) => s.closed).length,
            first,
          },
        ];
      }),
    );
  const settled = (name: string, s: Held) => s.closed || s.first !== undefined || (http.includes(name) && s.connected);
  const told = new Set<string>();
  const tell = (what: string, when: boolean) => {
    if (told.has(what) || !when) return;
    told.add(what);
    process.stdout.write(`${JSON.stringify({ [what]: summary() })}\n`);
  };
  const check = () => {
    const ports = [...held];
    tell(
      'ready',
      ports.every(
        ([name, sockets]) => sockets.every((s) => s.connected || s.closed) && sockets.some((s) => settled(name, s)),
      ),
    );
    if (told.has('ready'))
      tell(
        'settled',
        ports.every(([name, sockets]) => sockets.every((s) => settled(name, s))),
      );
  };
  const sockets: net.Socket[] = [];
  for (const [name, port] of Object.entries(ports)) {
    const states: Held[] = [];
    held.set(name, states);
    for (let i = 0; i < count; i++) {
      const state: Held = { connected: false, closed: false };
      states.push(state);
      const socket = net.connect({ host, port }, () => {
        state.connected = true;
        if (http.includes(name)) socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
        check();
      });
      sockets.push(socket);
      let data = '';
      socket.on('data', (c: Buffer) => {
        data += c.toString('latin1');
        if (state.first === undefined && /\r?\n/.test(data)) {
          state.first = data.split(/\r?\n/)[0]!.slice(0, 200);
          check();
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        state.closed = true;
        check();
      });
    }
  }
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line === 'report') process.stdout.write(`${JSON.stringify({ report: summary() })}\n`);
  });
  input.on('close', () => {
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
}

async function pop(host: string, port: number, user: string, password: string): Promise<void> {
  const s = await Session.open(port, host);
  await s.read(/^\+OK/);
  await s.send(`USER ${user}`, /^[+-]/);
  await s.send(`PASS ${password}`, /^[+-]/);
  await s.send('QUIT', /^[+-]/);
  s.close();
  process.stdout.write(`${JSON.stringify({ pop: s.transcript })}\n`);
}

const command = JSON.parse(process.argv[2] ?? '{}') as {
  hold?: { host: string; ports: Record<string, number>; count: number; http?: string[] };
  pop?: { host: string; port: number; user: string; password: string };
};
if (command.hold) hold(command.hold.host, command.hold.ports, command.hold.count, command.hold.http ?? []);
else if (command.pop) await pop(command.pop.host, command.pop.port, command.pop.user, command.pop.password);
else throw new Error(`unknown command ${process.argv[2]}`);
