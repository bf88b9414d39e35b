import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'ssh2';
import type { ClassInfo } from '../../src/core/class-model.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, docker, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshRun, sshSession } from '../helpers/ssh.js';
import { classBoard } from '../helpers/td.js';

/**
 * The class that one student cannot take down: each hostile act is typed as student 1 (or a classmate
 * aiming at them) through the ports the TD gives; student 2 must not notice.
 */
const CLASS = `ho${process.pid}`;
const PASSWORD = 'master2021';
let base = 0;
let info: ClassInfo;
const port = (student: number, service: string) => info.students[student - 1]!.ports[service]!;
const mailName = (student: number) => `labctl-${CLASS}-s0${student}-mail`;
const ssh = (student: number, user: string, command: string) => sshRun(port(student, 'ssh'), user, PASSWORD, command);

/** Sends `count` small messages in one SMTP session; returns the reply to each final dot. */
async function sendMany(student: number, count: number, rcpt: string): Promise<string[]> {
  const s = await Session.open(port(student, 'smtp'));
  const replies: string[] = [];
  try {
    await s.read(SMTP_FINAL);
    await s.say('helo pv', SMTP_FINAL);
    for (let i = 0; i < count; i++) {
      const from = await s.say('mail from: util2@pv', SMTP_FINAL);
      if (!from.startsWith('250')) {
        replies.push(from);
        break;
      }
      const to = await s.say(`rcpt to: ${rcpt}`, SMTP_FINAL);
      if (!to.startsWith('250')) {
        replies.push(to);
        await s.say('rset', SMTP_FINAL);
        break;
      }
      await s.say('data', SMTP_FINAL);
      s.type(`Subject: boucle ${i}`);
      s.type('');
      s.type('encore');
      replies.push(await s.say('.', SMTP_FINAL));
    }
    await s.say('quit', SMTP_FINAL).catch(() => '');
  } finally {
    s.close();
  }
  return replies;
}

/** Student n's server still answers its greetings and delivers a message to util<n>. */
async function stillDelivers(student: number): Promise<void> {
  const replies = await sendMany(student, 1, `util${student}`);
  assert.match(replies[0] ?? '', /^250 2\.0\.0 Ok: queued as /, `student ${student} no longer delivers`);
  const pop = await Session.open(port(student, 'pop3'));
  assert.match((await pop.read(/^[+-]/))[0]!, /^\+OK/);
  pop.close();
}

describe('a class that one student cannot break', { timeout: 300_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    base = await freeBasePort(2);
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    for (const n of [1, 2]) await exec(mailName(n), ['pkill', '-KILL', '-u', 'util1']).catch(() => {});
    await cleanClass(CLASS);
  });

  it('each server has ssh host keys of its own, kept across a restart', async () => {
    const key = (n: number) => sshSession(port(n, 'ssh'), `util${n}`, PASSWORD, async (_c, hostKey) => hostKey);
    const [one, two] = [await key(1), await key(2)];
    assert.ok(one.length > 40);
    assert.notEqual(one, two, 'two students got the same host key');
    await docker.getContainer(mailName(1)).restart({ t: 5 });
    await waitForSsh(1);
    assert.equal(await key(1), one, 'the host key changed with a restart');
  });

  it("the server's configuration, which travels in its spec, is in no process's environment after the start", async () => {
    // As the student: their shell sees no trace of it, and no process of theirs has it.
    const student = await sshRun(port(1, 'ssh'), 'util1', PASSWORD, 'env | grep -c LABCTL_ || true');
    assert.equal(student.code, 0, student.stderr);
    assert.equal(student.stdout.trim(), '0');
    // As root, in PID 1 and every daemon (a `docker exec`, like this one, gets the container's environment: that
    // is the engine's, for whoever holds the engine; reset.sh drops it before acting as an account).
    // Processes of Postfix's own uid are not readable here (no CAP_SYS_PTRACE): every root one is.
    const root = await exec(mailName(1), [
      'bash',
      '-c',
      'n=0; for p in 1 $(pgrep -d " " "^(master|sshd|rsyslogd|couriertcpd|authdaemond)$"); do tr "\\0" "\\n" 2>/dev/null < /proc/$p/environ > /tmp/env.$p && n=$((n + 1)); done; echo "processes $n"; cat /tmp/env.* | grep -c LABCTL_SERVER_CONFIG; rm -f /tmp/env.*',
    ]);
    const [processes, found] = root.output.trim().split('\n');
    assert.ok(Number(processes?.split(' ')[1]) >= 6, `too few daemons looked at: ${root.output}`);
    assert.equal(found, '0');
    // And the rendered files are in place: Postfix runs this student's domain.
    const mailname = await exec(mailName(1), ['cat', '/etc/mailname']);
    assert.equal(mailname.output.trim(), info.students[0]!.domain);
  });

  it('ssh forwards nothing: no -L, no -D, no -R', async () => {
    const refused = (open: (c: Client, done: (e: Error | undefined) => void) => void) =>
      sshSession(port(1, 'ssh'), 'util1', PASSWORD, (conn) => new Promise<Error | undefined>((r) => open(conn, r)));
    // -L and -D are both direct-tcpip channels: to the server's own SMTP, and to the outside world.
    for (const [host, p] of [
      ['127.0.0.1', 25],
      ['192.0.2.1', 80],
    ] as const) {
      const error = await refused((c, done) => c.forwardOut('127.0.0.1', 0, host, p, (e) => done(e)));
      assert.match(String(error), /open failed|prohibited/i, `forwarding to ${host}:${p} was allowed`);
    }
    const remote = await refused((c, done) => c.forwardIn('127.0.0.1', 0, (e) => done(e ?? undefined)));
    assert.ok(remote instanceof Error, 'remote forwarding (-R) was allowed');
  });

  it('nothing in a student network opens a connection outside the lab', async () => {
    // A server on the host, on every address: the lab's own gateway is the way out of the network.
    const server = net.createServer((s) => s.end('hello from outside\n'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const hostPort = (server.address() as net.AddressInfo).port;
    let connections = 0;
    server.on('connection', () => connections++);
    try {
      const network = await docker.getNetwork(`labctl-${CLASS}-s01`).inspect();
      const gateway = network.IPAM?.Config?.[0]?.Gateway as string;
      const other = (await docker.getContainer(mailName(2)).inspect()).NetworkSettings.Networks;
      const classmate = Object.values(other)[0]!.IPAddress;
      const probe = (host: string, p: number) =>
        ssh(1, 'util1', `timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${p} && echo OPEN' 2>&1 || echo BLOCKED`);
      const outside = await probe(gateway, hostPort);
      assert.match(outside.stdout, /BLOCKED/, `util1 reached the host: ${outside.stdout}`);
      assert.match(outside.stdout, /Connection refused/);
      assert.match((await probe(classmate, 25)).stdout, /BLOCKED/);
      assert.equal(connections, 0);
      // The server itself still answers from inside, on loopback, as the TD types it.
      assert.match((await probe('127.0.0.1', 25)).stdout, /OPEN/);
    } finally {
      server.close();
    }
  });

  it('a fork bomb stops at the account limit; the server, the classmate and check keep answering', async () => {
    const bomb = await ssh(1, 'util1', `nohup bash -c 'b(){ b | b & }; b' >/dev/null 2>&1 & sleep 3; echo launched`);
    assert.match(bomb.stdout, /launched/);
    const count = Number((await exec(mailName(1), ['sh', '-c', 'ps -u util1 -o pid= | wc -l'])).output.trim());
    assert.ok(count > 10, `the bomb did not run (${count} processes)`);
    assert.ok(count <= 64, `util1 runs ${count} processes, above the limit of 64`);
    await stillDelivers(1);
    await stillDelivers(2);
    assert.match((await ssh(1, 'util11', 'echo still here')).stdout, /still here/);
    assert.match((await ssh(2, 'util1', 'echo classmate')).stdout, /classmate/);
    const board = await classBoard(CLASS);
    assert.equal(board.students.length, 2);
    assert.ok(board.students.every((s) => s.error === undefined));
    await exec(mailName(1), ['pkill', '-KILL', '-u', 'util1']);
  });

  it('a disk fill stops at the file size limit, and the classmates keep delivering', async () => {
    const fill = await ssh(
      1,
      'util1',
      'dd if=/dev/zero of=$HOME/fill bs=1M count=300 2>/dev/null; echo "exit=$?"; stat -c %s $HOME/fill',
    );
    // dd is stopped by SIGXFSZ (25): 128 + 25.
    assert.match(fill.stdout, /^exit=153$/m);
    assert.match(fill.stdout, new RegExp(`^${64 * 1024 * 1024}$`, 'm'));
    await ssh(1, 'util1', 'rm -f $HOME/fill');
    await stillDelivers(2);
  });

  it('Postfix refuses a message over its size limit', async () => {
    const s = await Session.open(port(1, 'smtp'));
    await s.read(SMTP_FINAL);
    await s.say('ehlo pv', SMTP_FINAL);
    assert.match(await s.say('mail from: <util2@pv> SIZE=25000000', SMTP_FINAL), /^552 5\.3\.4 Message size exceeds/);
    s.close();
  });

  it('a message loop hits the rate limit on that server only', async () => {
    const replies = await sendMany(2, 40, 'util2');
    const queued = replies.filter((r) => r.startsWith('250')).length;
    assert.ok(queued <= 30, `${queued} messages in a minute went through`);
    assert.match(replies.at(-1)!, /^450 4\.7\.1 Error: too much mail from /);
    await stillDelivers(1);
  });

  it("reset acts as the account: a student's link or FIFO cannot touch the system or hang it", async () => {
    const passwd = (await exec(mailName(1), ['cat', '/etc/passwd'])).output;
    await ssh(1, 'util1', 'rm -f ~/mbox; ln -s /etc/passwd ~/mbox; ln -s /etc/shadow ~/Maildir/new/1.shadow');
    const linked = await labctl(['reset', '--class', CLASS, '--student', '1', '--user', 'util1', '--backup', '--yes']);
    assert.equal(linked.code, 0, linked.stderr);
    assert.equal((await exec(mailName(1), ['cat', '/etc/passwd'])).output, passwd, '/etc/passwd was changed');
    const tar = /Backups: (\S+\.tar)/.exec(linked.stdout)?.[1];
    assert.ok(tar, linked.stdout);
    const content = await readFile(tar, 'latin1');
    assert.doesNotMatch(content, /root:x:0:0|root:\$|root:\*/, 'the backup holds a system file');
    assert.match(linked.stdout, /skipped .*mbox: not a regular file/);

    await ssh(1, 'util1', 'rm -f ~/mbox; mkfifo ~/mbox');
    const started = Date.now();
    const fifo = await labctl(['reset', '--class', CLASS, '--student', '1', '--user', 'util1', '--yes']);
    assert.equal(fifo.code, 0, fifo.stderr);
    assert.ok(Date.now() - started < 20_000, 'the reset hung on a FIFO');
    assert.match(fifo.stdout, /skipped .*mbox: not a regular file/);
    await ssh(1, 'util1', 'rm -f ~/mbox');
    await stillDelivers(1);
  });

  it('after all of the above, up finds every service answering and student 1 delivers', async () => {
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    await stillDelivers(1);
    // Student 2's server still refuses the looping client for the rest of the minute, and answers.
    const smtp = await Session.open(port(2, 'smtp'));
    assert.match((await smtp.read(SMTP_FINAL))[0]!, /^220 /);
    smtp.close();
  });
});

async function waitForSsh(student: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const banner = await new Promise<string>((resolve) => {
      const s = net.connect(port(student, 'ssh'), '127.0.0.1');
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString());
      });
      s.once('error', () => resolve(''));
      s.once('close', () => resolve(''));
    });
    if (banner.startsWith('SSH-')) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`student ${student}'s ssh never came back`);
}
