import http from 'node:http';
import net from 'node:net';

/** What a student's server says first on each of the TD's ports, as readiness expects it. */
const GREETINGS: Record<string, string> = {
  smtp: '220 mail ESMTP\r\n',
  pop3: '+OK ready\r\n',
  imap: '* OK ready\r\n',
  ssh: 'SSH-2.0-OpenSSH_9.2\r\n',
};

/** What the stand-in sidecar says of the student's progress: one exercise done, with its time and evidence. */
export function progress(student: number) {
  return {
    class: 'fake',
    student,
    lab: 'smtp-pop-imap',
    title: 'TD',
    done: 1,
    total: 2,
    exercises: [
      {
        id: 'smtp-simple',
        title: 'Un message',
        done: true,
        at: '2026-12-01T10:00:00.000Z',
        evidence: 'message 1A2B reçu',
      },
      { id: 'smtp-subject', title: 'Un sujet', done: false, at: null, evidence: null },
    ],
  };
}

/**
 * Stand-ins for one student's running servers on the loopback, for unit tests through the fake engine (whose
 * workloads never run): each port greets as its service does; the page's /health answers ok and its
 * /api/progress one credit (or `answer`), with `health` in its /health (listeners). Resolves to a function that
 * closes them all, whose `greeted` counts the connections each service took.
 */
export async function greetAs(
  student: number,
  ports: Record<string, number>,
  answer: object = progress(student),
  health: object = {},
): Promise<(() => Promise<void>) & { greeted: Record<string, number> }> {
  const greeted: Record<string, number> = {};
  const servers = Object.entries(ports).map(([service, port]) => {
    const server =
      service === 'web'
        ? http.createServer((req, res) => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(req.url === '/api/progress' ? answer : { status: 'ok', student, ...health }));
          })
        : net.createServer((socket) => {
            greeted[service] = (greeted[service] ?? 0) + 1;
            socket.on('error', () => {});
            socket.end(GREETINGS[service] ?? '');
          });
    return new Promise<net.Server>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port }, () => resolve(server));
    });
  });
  const listening = await Promise.all(servers);
  // Clients may keep a connection (HTTP keep-alive, idle and unref'd): close waits for none of them.
  const open = new Set<net.Socket>();
  for (const server of listening)
    server.on('connection', (socket: net.Socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    });
  const close = async () => {
    const closed = listening.map((s) => new Promise((r) => s.close(r)));
    for (const socket of open) socket.destroy();
    await Promise.all(closed);
  };
  return Object.assign(close, { greeted });
}
