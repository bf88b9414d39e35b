import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { probe, waitUntilReady } from '../../src/core/readiness.js';
import { classCa, serverCertificate } from '../../src/core/tls.js';

/** A server that greets each client with `greeting`; it emits `goodbye` with what the client said before leaving. */
async function greeter(greeting: string) {
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    let said = '';
    socket.on('data', (chunk: string) => (said += chunk));
    socket.on('end', () => {
      server.emit('goodbye', said);
      socket.end();
    });
    socket.write(greeting);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('readiness: each port waits for what a student would see', () => {
  let smtp: Awaited<ReturnType<typeof greeter>>;
  let wrong: Awaited<ReturnType<typeof greeter>>;
  before(async () => {
    smtp = await greeter('220 s01.td.example ESMTP Postfix\r\n');
    wrong = await greeter('HTTP/1.1 400 Bad Request\r\n');
  });
  after(() => {
    smtp.server.close();
    wrong.server.close();
  });

  it('SMTP is ready at its 220 banner, and the probe says QUIT', async () => {
    const goodbye = once(smtp.server, 'goodbye');
    assert.equal(await probe('127.0.0.1', smtp.port, 'smtp'), '220 s01.td.example ESMTP Postfix');
    assert.deepEqual(await goodbye, ['QUIT\r\n']);
    assert.equal(
      await waitUntilReady('127.0.0.1', smtp.port, 'smtp', Date.now() + 5000),
      '220 s01.td.example ESMTP Postfix',
    );
  });

  it('another greeting on the port is not ready, and the error says what came', async () => {
    await assert.rejects(
      probe('127.0.0.1', wrong.port, 'imap'),
      /unexpected imap greeting from 127\.0\.0\.1:\d+: HTTP\/1\.1 400/,
    );
    await assert.rejects(probe('127.0.0.1', wrong.port, 'ssh'), /unexpected ssh greeting/);
  });

  it('a wait that reaches its deadline gives the last try’s error', async () => {
    await assert.rejects(
      waitUntilReady('127.0.0.1', wrong.port, 'pop3', Date.now() + 300, undefined, 50),
      /unexpected pop3 greeting/,
    );
  });
});

describe('readiness of a port with implicit TLS (a lab such as smtp-tls)', () => {
  const ca = classCa('token', 'tx');
  const server = serverCertificate('token', 'tx', 'mail.s01.tx.test');
  let smtps: tls.Server;
  let port: number;
  before(async () => {
    smtps = tls.createServer({ key: server.key, cert: server.cert }, (socket) => {
      socket.on('error', () => {});
      socket.on('data', () => socket.end());
      socket.write('220 mail.s01.tx.test ESMTP Postfix\r\n');
    });
    await new Promise<void>((resolve) => smtps.listen(0, '127.0.0.1', resolve));
    port = (smtps.address() as AddressInfo).port;
  });
  after(() => smtps.close());

  it('is ready at the banner after a handshake with the certificate the class’s CA signed for this server', async () => {
    const greeting = { protocol: 'smtp', tls: 'implicit', ca: ca.cert, servername: 'mail.s01.tx.test' } as const;
    assert.equal(await probe('127.0.0.1', port, greeting), '220 mail.s01.tx.test ESMTP Postfix');
  });

  it('is not ready with a classmate’s server name, another class’s CA, or without TLS', async () => {
    await assert.rejects(
      probe('127.0.0.1', port, { protocol: 'smtp', tls: 'implicit', ca: ca.cert, servername: 'mail.s02.tx.test' }),
      /mail\.s02\.tx\.test/,
    );
    const other = classCa('another-token', 'tx').cert;
    await assert.rejects(
      probe('127.0.0.1', port, { protocol: 'smtp', tls: 'implicit', ca: other, servername: 'mail.s01.tx.test' }),
      /certificate/,
    );
    await assert.rejects(probe('127.0.0.1', port, 'smtp', 500), /no smtp greeting/);
  });

  it('says goodbye right after the handshake: a try that times out leaves no session closed without a command', async () => {
    // A server slow to greet: the probe gives up, but the server has read its QUIT (a lab credits a session with
    // no command: a student reading the certificate).
    let heard = '';
    const slow = tls.createServer({ key: server.key, cert: server.cert }, (socket) => {
      socket.on('error', () => {});
      socket.on('data', (d: Buffer) => (heard += d.toString()));
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const slowPort = (slow.address() as AddressInfo).port;
      await assert.rejects(probe('127.0.0.1', slowPort, { protocol: 'smtp', tls: 'implicit' }, 500), /no smtp/);
      assert.equal(heard, 'QUIT\r\n');
    } finally {
      slow.close();
    }
  });

  it('stays until the server has answered its goodbye: a server slow to greet still counts the QUIT', async () => {
    // Postfix greets after its connect-time checks, then reads the QUIT the probe sent after the handshake. Its
    // 221 must reach the probe, or it logs the session as closed without a command (what a student reading the
    // certificate does, which the smtp-tls lab credits).
    const answered: boolean[] = [];
    const slow = tls.createServer({ key: server.key, cert: server.cert }, (socket) => {
      socket.on('error', () => {});
      let said = '';
      setTimeout(() => socket.write('220 mail ESMTP\r\n'), 200);
      socket.on('data', (d: Buffer) => {
        said += d.toString();
        if (!said.includes('QUIT\r\n')) return;
        // Answered after the greeting, as Postfix does: was the probe still there to read it?
        setTimeout(() => {
          answered.push(!socket.readableEnded);
          socket.end('221 2.0.0 Bye\r\n');
        }, 400);
      });
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const slowPort = (slow.address() as AddressInfo).port;
      assert.match(await probe('127.0.0.1', slowPort, { protocol: 'smtp', tls: 'implicit' }, 2000), /^220 /);
      for (let i = 0; i < 40 && answered.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(answered, [true], 'the probe had not left when the server answered its QUIT');
    } finally {
      slow.close();
    }
  });
});
