import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ClassInfo } from '../../src/core/class-model.js';
import { evaluate } from '../../src/sidecar/checks.js';
import { parseVerifyLog } from '../../src/sidecar/parse-log.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, containerId, docker, exec, labelled } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';

const run = promisify(execFile);
/** A real mail client: curl reads a POP3 or IMAP URL as util12. */
const curl = (url: string) => run('curl', ['-s', '--max-time', '10', '-u', `util12:${PASSWORD}`, url]);
const CLASS = `it${process.pid}`;
const PASSWORD = 'master2021';

type Info = ClassInfo;

let base = 0;
const upClass = (students: number) => upArgs(CLASS, students, base);
let info: Info;
const port = (student: number, service: string) => info.students[student - 1]!.ports[service]!;
const domain = (student: number) => info.students[student - 1]!.domain;
const mailName = (student: number) => `labctl-${CLASS}-s0${student}-mail`;

/** The TD's SMTP session, typed line by line; returns the queue id. */
async function sendMail(student: number, from: string, rcpts: string[], body: string[]): Promise<string> {
  const s = await Session.open(port(student, 'smtp'));
  try {
    assert.match((await s.read(SMTP_FINAL))[0]!, /^220 mail\.s0\d\..* ESMTP Postfix/);
    assert.match(await s.say('helo pv', SMTP_FINAL), /^250 /);
    assert.match(await s.say(`mail from: ${from}`, SMTP_FINAL), /^250 2\.1\.0 Ok/);
    for (const r of rcpts) assert.match(await s.say(`rcpt to: ${r}`, SMTP_FINAL), /^250 2\.1\.5 Ok/);
    assert.match(await s.say('data', SMTP_FINAL), /^354 End data with <CR><LF>\.<CR><LF>/);
    for (const line of body) s.type(line);
    const queued = await s.say('.', SMTP_FINAL);
    assert.match(queued, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
    assert.match(await s.say('quit', SMTP_FINAL), /^221 2\.0\.0 Bye/);
    return queued.split(' ').at(-1)!;
  } finally {
    s.close();
  }
}

/** Waits until a file in the container holds the text: delivery is asynchronous. */
async function waitFor(student: number, file: string, text: string): Promise<string> {
  let content = '';
  for (let i = 0; i < 50; i++) {
    content = (await exec(mailName(student), ['cat', file])).output;
    if (content.includes(text)) return content;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${file} never held "${text}":\n${content}`);
}

describe('the TD on a class of two students', { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    base = await freeBasePort(2);
    const up = await labctl(upClass(2));
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, new RegExp(`Class ${CLASS} is up: 2 students`));
    info = await labctlJson<Info>(['info', '--class', CLASS]);
  });

  after(async () => {
    await cleanClass(CLASS);
  });

  it('info --json gives each student their host, domain, ports, accounts and pair', () => {
    assert.equal(info.class, CLASS);
    assert.equal(info.lab, 'smtp-pop-imap');
    assert.deepEqual(
      info.students.map((s) => s.student),
      [1, 2],
    );
    const s2 = info.students[1]!;
    assert.equal(s2.host, '127.0.0.1');
    assert.equal(s2.domain, `s02.${CLASS}.test`);
    assert.deepEqual(s2.ports, {
      smtp: base + 225,
      pop3: base + 210,
      imap: base + 243,
      ssh: base + 222,
      web: base + 280,
    });
    assert.deepEqual(s2.pair, ['util2', 'util12']);
    assert.equal(s2.accounts.length, 19);
    assert.deepEqual(s2.accounts[18], { user: 'util19', password: PASSWORD });
  });

  it('info prints a French card with the exact telnet and ssh commands', async () => {
    const card = await labctl(['info', '--class', CLASS, '--student', '2']);
    assert.equal(card.code, 0, card.stderr);
    assert.match(card.stdout, /Étudiant 2/);
    assert.ok(card.stdout.includes(`telnet 127.0.0.1 ${base + 225}`));
    assert.ok(card.stdout.includes(`ssh -p ${base + 222} util2@127.0.0.1`));
    assert.match(card.stdout, /util2 et util12 +mot de passe : master2021/);
  });

  it('accepts the forged president@ sender to a bare user and to a full address, once in each mailbox', async () => {
    const id = await sendMail(
      2,
      'president@u-picardie.fr',
      ['util12', `util2@${domain(2)}`],
      ['Subject: test', '', 'test envoie president', ''],
    );
    for (const user of ['util12', 'util2']) {
      const spool = await waitFor(2, `/var/spool/mail/${user}`, id);
      assert.equal(spool.match(/^From /gm)?.length, 1, spool);
      assert.match(spool, /^From president@u-picardie\.fr /);
      assert.doesNotMatch(spool, /^>From /m);
      assert.match(spool, /^Subject: test$/m);
    }
  });

  it('shows the spool over ssh to util12, and the mail command lists the message', async () => {
    const cat = await sshRun(port(2, 'ssh'), 'util12', PASSWORD, 'cat /var/spool/mail/util12');
    assert.equal(cat.code, 0, cat.stderr);
    assert.match(cat.stdout, /test envoie president/);
    const mail = await sshRun(port(2, 'ssh'), 'util12', PASSWORD, 'mail -H');
    assert.match(mail.stdout, /^>?N +1 .* test$/m);
  });

  it('lets a util account follow its connection in /var/log/mail.log, Postfix and Courier lines together', async () => {
    const id = await sendMail(1, 'util1', ['util11'], ['Subject: log', '', 'suivre le log', '']);
    const imap = await Session.open(port(1, 'imap'));
    await imap.read(/^\* OK/);
    await imap.send('a LOGIN util1 master2021', /^a /);
    await imap.send('a LOGOUT', /^a /);
    imap.close();
    let log = '';
    for (let i = 0; i < 30 && !/imapd: LOGOUT, user=util1/.test(log); i++) {
      log = (await sshRun(port(1, 'ssh'), 'util1', PASSWORD, 'cat /var/log/mail.log')).stdout;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(log, new RegExp(`postfix/smtpd\\[\\d+\\]: ${id}: client=`));
    assert.match(
      log,
      new RegExp(
        `postfix/local\\[\\d+\\]: ${id}: to=<util11@${domain(1).replace(/\./g, '\\.')}>.*status=sent \\(delivered to mailbox\\)`,
      ),
    );
    assert.match(log, /imapd: LOGIN, user=util1, /);
    assert.match(log, /imapd: LOGOUT, user=util1, /);
  });

  it('reads the message back with POP3 USER/PASS/LIST/RETR', async () => {
    const s = await Session.open(port(2, 'pop3'));
    assert.match((await s.read(/^\+OK|^-ERR/))[0]!, /^\+OK/);
    assert.match(await s.say('USER util12', /^\+OK|^-ERR/), /^\+OK/);
    assert.match(await s.say('PASS master2021', /^\+OK|^-ERR/), /^\+OK/);
    const list = await s.send('LIST', /^\.$/);
    assert.match(list[0]!, /^\+OK/);
    assert.match(list[1]!, /^1 \d+$/);
    const retr = await s.send('RETR 1', /^\.$/);
    assert.ok(retr.includes('test envoie president'), retr.join('\n'));
    assert.ok(retr.includes('Subject: test'));
    assert.match(await s.say('QUIT', /^\+OK|^-ERR/), /^\+OK/);
    s.close();
  });

  it('replays the seed IMAP transcript with Courier', async () => {
    const s = await Session.open(port(2, 'imap'));
    assert.match((await s.read(/^\* OK/))[0]!, /^\* OK \[CAPABILITY .*\] Courier-IMAP ready/);
    assert.equal(await s.say('1234 LOGIN util12 master2021', /^1234 /), '1234 OK LOGIN Ok.');
    const ns = await s.send('1234 namespace', /^1234 /);
    assert.match(ns[0]!, /^\* NAMESPACE \(\("INBOX\." "\."\)\)/);
    const select = await s.send('1234 select INBOX', /^1234 /);
    assert.ok(select.includes('* 1 EXISTS'), select.join('\n'));
    assert.match(select.at(-1)!, /^1234 OK \[READ-WRITE\]/);
    assert.equal(await s.say('1234 uid fetch 1', /^1234 /), '1234 NO Error in IMAP command received by server.');
    const header = await s.send('1234 uid fetch 1 BODY[HEADER]', /^1234 /);
    assert.match(header[0]!, /^\* 1 FETCH \(UID 1 BODY\[HEADER\] \{\d+\}$/);
    assert.ok(header.includes('Return-Path: <president@u-picardie.fr>'));
    assert.equal(header.at(-1), '1234 OK FETCH completed.');
    const text = await s.send('1234 FETCH 1 BODY[TEXT]', /^1234 /);
    assert.ok(text.includes('test envoie president'), text.join('\n'));
    assert.equal(await s.say('1234 CLOSE', /^1234 /), '1234 OK mailbox closed.');
    const bye = await s.send('1234 LOGOUT', /^1234 /);
    assert.ok(bye.includes('* BYE Courier-IMAP server shutting down'));
    assert.equal(bye.at(-1), '1234 OK LOGOUT completed');
    s.close();
  });

  it('serves real clients too: curl reads the mailbox over POP3 and IMAP', async () => {
    const pop = await curl(`pop3://127.0.0.1:${port(2, 'pop3')}/1`);
    assert.match(pop.stdout, /test envoie president/);
    const imap = await curl(`imap://127.0.0.1:${port(2, 'imap')}/INBOX;UID=1`);
    assert.match(imap.stdout, /Subject: test/);
  });

  it('refuses wrong passwords on POP3, IMAP and ssh', async () => {
    const pop = await Session.open(port(2, 'pop3'));
    await pop.read(/^\+OK/);
    await pop.send('USER util12', /^\+OK|^-ERR/);
    assert.match(await pop.say('PASS wrong', /^\+OK|^-ERR/), /^-ERR/);
    pop.close();
    const imap = await Session.open(port(2, 'imap'));
    await imap.read(/^\* OK/);
    assert.match(await imap.say('a LOGIN util12 wrong', /^a /), /^a NO /);
    imap.close();
    await assert.rejects(sshRun(port(2, 'ssh'), 'util12', 'wrong', 'true'), /authentication/i);
  });

  /** Types a session whose RCPT is refused; returns the refusal. */
  async function refusedRcpt(student: number, rcpt: string): Promise<string> {
    const s = await Session.open(port(student, 'smtp'));
    await s.read(SMTP_FINAL);
    await s.say('helo pv', SMTP_FINAL);
    await s.say('mail from: util1', SMTP_FINAL);
    const refusal = await s.say(`rcpt to: ${rcpt}`, SMTP_FINAL);
    await s.say('quit', SMTP_FINAL);
    s.close();
    return refusal;
  }

  it('refuses mail to an outside domain, with a line in the log the student can follow', async () => {
    const refusal = await refusedRcpt(1, 'pascal.vaniet@u-picardie.fr');
    assert.equal(
      refusal,
      '550 5.7.1 <pascal.vaniet@u-picardie.fr>: Recipient address rejected: labctl: mail to other domains stays in the lab (envoi hors du lab bloque)',
    );
    const log = await waitFor(1, '/var/log/mail.log', 'to=<pascal.vaniet@u-picardie.fr>');
    assert.match(
      log,
      /NOQUEUE: reject: RCPT from .*: 550 5\.7\.1 <pascal\.vaniet@u-picardie\.fr>: Recipient address rejected: .*from=<util1(@s01\.[^>]*)?>/,
    );
  });

  it('isolates students: no route between their networks, and no mail between their servers', async () => {
    const s2 = await docker.getContainer(mailName(2)).inspect();
    const ip2 = Object.values(s2.NetworkSettings.Networks)[0]!.IPAddress;
    assert.match(ip2, /^\d+\.\d+\.\d+\.\d+$/);
    const probe = await exec(mailName(1), [
      'bash',
      '-c',
      `timeout 3 bash -c '</dev/tcp/${ip2}/25' 2>/dev/null && echo reached || echo blocked`,
    ]);
    // The egress firewall refuses at once; without it the separate bridges would time out.
    assert.equal(probe.output.trim(), 'blocked');
    assert.match(await refusedRcpt(1, `util2@${domain(2)}`), /^550 5\.7\.1 /);
    const spool = (await exec(mailName(2), ['cat', '/var/spool/mail/util2'])).output;
    assert.doesNotMatch(spool, /from=<util1@s01/);
    assert.equal(spool.match(/^From /gm)?.length, 1, 'util2 holds only the president message');
  });

  it('the verification core reads the real verification log: student 2 earned the POP/IMAP/two-recipient credits, student 1 the outside attempt', async () => {
    const creditsOf = async (student: number) => {
      const log = (await exec(mailName(student), ['cat', '/var/lib/labctl/evidence/log/verify.log'])).output;
      const results = evaluate({ events: parseVerifyLog(log), messages: [], labDomains: [domain(student)] }, [
        'smtp-two-recipients',
        'smtp-spoofed-sender',
        'smtp-external',
        'pop-login',
        'pop-retr',
        'imap-login',
        'imap-fetch',
      ]);
      return Object.fromEntries(results.map((r) => [r.id, r.done]));
    };
    assert.deepEqual(await creditsOf(2), {
      'smtp-two-recipients': true,
      'smtp-spoofed-sender': true,
      'smtp-external': false,
      'pop-login': true,
      'pop-retr': true,
      'imap-login': true,
      'imap-fetch': true,
    });
    const one = await creditsOf(1);
    assert.equal(one['smtp-external'], true);
    assert.equal(one['smtp-two-recipients'], false);
    assert.equal(one['pop-login'], false);
  });

  it('status shows every service of every student answering', async () => {
    const rows = await labctlJson<
      { student: number; containers: Record<string, string>; services: Record<string, boolean> }[]
    >(['status', '--class', CLASS]);
    assert.deepEqual(
      rows.map((r) => r.student),
      [1, 2],
    );
    for (const r of rows) {
      assert.equal(r.containers.mail, 'running');
      assert.equal(r.containers.sidecar, 'running');
      assert.deepEqual(r.services, { smtp: true, pop3: true, imap: true, ssh: true, web: true });
    }
  });

  it('is safe to run again: the same --students changes nothing', async () => {
    const before = await containerId(mailName(1));
    const again = await labctl(upClass(2));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await containerId(mailName(1)), before);
  });

  it('refuses a smaller --students without --prune, and changes nothing', async () => {
    const smaller = await labctl(upClass(1));
    assert.equal(smaller.code, 3);
    assert.match(smaller.stderr, /has student 2 beyond --students 1; nothing was changed/);
    assert.equal((await labelled(CLASS)).containers.length, 4);
  });

  it('finds a port conflict before creating anything, and names the port', async () => {
    const other = `${CLASS}x`;
    await cleanClass(other);
    const clash = await labctl([
      'up',
      '--students',
      '1',
      '--class',
      other,
      '--base-port',
      String(base),
      '--bind',
      '127.0.0.1',
    ]);
    assert.equal(clash.code, 3);
    assert.ok(clash.stderr.includes(`port ${base + 125} (student 1, smtp)`), clash.stderr);
    const left = await labelled(other);
    assert.equal(left.containers.length + left.networks.length + left.volumes.length, 0);
  });

  it('stops cleanly on SIGTERM instead of being killed after the timeout', async () => {
    await docker.getContainer(mailName(2)).stop({ t: 10 });
    const state = (await docker.getContainer(mailName(2)).inspect()).State;
    assert.equal(state.ExitCode, 0);
    await docker.getContainer(mailName(2)).start();
  });

  it('down keeps mailboxes; up brings them back; down --purge needs --yes off a terminal, then leaves nothing', async () => {
    const down = await labctl(['down', '--class', CLASS]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /Removed 4 containers and 2 networks .*Mailboxes kept/);
    let left = await labelled(CLASS);
    assert.equal(left.containers.length, 0);
    assert.equal(left.networks.length, 0);
    assert.equal(left.volumes.length, 14);
    const up = await labctl(upClass(2));
    assert.equal(up.code, 0, up.stderr);
    const pop = await curl(`pop3://127.0.0.1:${port(2, 'pop3')}/1`);
    assert.match(pop.stdout, /test envoie president/);
    const refused = await labctl(['down', '--class', CLASS, '--purge']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /add --yes/i);
    const purge = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
    assert.equal(purge.code, 0, purge.stderr);
    left = await labelled(CLASS);
    assert.equal(left.containers.length + left.networks.length + left.volumes.length, 0);
    assert.match(purge.stdout, /14 volumes and 2 disks/);
  });
});

describe('before anything is created', () => {
  const other = `it${process.pid}y`;
  after(() => cleanClass(other));

  it('--dry-run prints the plan and creates nothing', async () => {
    const dry = await labctl(['up', '--students', '2', '--class', other, '--dry-run', '--host', '192.0.2.1']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`container  labctl-${other}-s02-mail`));
    assert.match(dry.stdout, /smtp 10225->25, pop3 10210->110, imap 10243->143, ssh 10222->22/);
    assert.match(dry.stdout, /Nothing was created \(--dry-run\)\./);
    const left = await labelled(other);
    assert.equal(left.containers.length + left.networks.length + left.volumes.length, 0);
  });

  it('a malformed lab file is named with its field, exit 2, and nothing is created', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-'));
    const file = path.join(dir, 'bad.yaml');
    const good = await readFile(new URL('../../../labs/smtp-pop-imap.yaml', import.meta.url), 'utf8');
    await writeFile(file, good.replace('count: 19', 'count: -3'));
    const bad = await labctl(['up', '--students', '1', '--class', other, '--lab', file]);
    assert.equal(bad.code, 2);
    assert.ok(bad.stderr.includes(`${file}: invalid lab file:`), bad.stderr);
    assert.match(bad.stderr, /accounts\.count: /);
    const left = await labelled(other);
    assert.equal(left.containers.length + left.networks.length + left.volumes.length, 0);
    await rm(dir, { recursive: true });
  });

  it('doctor finds the engine, the base image and the bootstrap tool, and counts the address pool', async () => {
    const checks = await labctlJson<{ check: string; ok: boolean; warning?: boolean; detail: string }[]>(['doctor']);
    assert.deepEqual(
      checks.filter((c) => !c.ok && !c.warning).map((c) => c.check),
      [],
    );
    assert.deepEqual(
      checks.map((c) => c.check),
      [
        'docker engine',
        'disk space',
        'base image',
        'address pool',
        'disk bound',
        'port forwarding',
        'swarm',
        'inotify instances',
        'bootstrap tool',
      ],
    );
    // setup-host.sh raised the host's inotify limit: every sidecar of a big class waits on its log.
    assert.equal(checks.find((c) => c.check === 'inotify instances')!.ok, true);
    // Here (root, the engine on this host) every student gets a disk of their own.
    assert.equal(checks.find((c) => c.check === 'disk bound')!.ok, true);
    // The engine says how many networks its pools hold (or that it does not say).
    assert.match(checks.find((c) => c.check === 'address pool')!.detail, /hold \d+ networks|does not report/);
    // This engine was started as scripts/setup-host.sh starts it: ports forwarded in the kernel.
    assert.match(
      checks.find((c) => c.check === 'port forwarding')!.detail,
      /^in the kernel \((dockerd --userland-proxy=false|"userland-proxy": false in \S+daemon\.json)\)/,
    );
  });

  it('a failing image build stops with the failing step and its output', async () => {
    const { LocalEngine } = await import('../../src/docker/local/local-engine.js');
    const { LABEL } = await import('../../src/core/labels.js');
    const files = [{ path: 'Dockerfile', content: 'FROM labctl/base:bookworm\nRUN echo about to fail && false\n' }];
    await assert.rejects(
      new LocalEngine(LABEL).buildImage('labctl-test/broken:latest', files, () => {}),
      (error: Error & { exitCode?: number }) => {
        assert.equal(error.exitCode, 5);
        assert.match(error.message, /^Build failed at Step 2\/\d+ : RUN echo about to fail && false/);
        assert.match(error.message, /about to fail/);
        assert.match(error.message, /returned a non-zero code: 1/);
        return true;
      },
    );
  });

  it('Ctrl-C during an image build: the engine cancels the build, tags nothing and leaves no build container', async () => {
    const { LocalEngine } = await import('../../src/docker/local/local-engine.js');
    const { LABEL } = await import('../../src/core/labels.js');
    const { ExitCode, LabctlError } = await import('../../src/errors.js');
    const Docker = (await import('dockerode')).default;
    const docker = new Docker();
    const tag = `labctl-test/cancelled:${process.pid}`;
    // A step that would take a minute; its container is found by its command.
    const files = [{ path: 'Dockerfile', content: `FROM labctl/base:bookworm\nRUN sleep 61 && echo ${process.pid}\n` }];
    const building = async () =>
      (await docker.listContainers({ all: true })).filter((c) => c.Command.includes(`sleep 61 && echo ${process.pid}`));
    const controller = new AbortController();
    const steps: string[] = [];
    const build = new LocalEngine(LABEL).buildImage(tag, files, (l) => steps.push(l), {}, controller.signal);
    build.catch(() => {});
    while ((await building()).length === 0) await new Promise((r) => setTimeout(r, 100));
    const pressed = Date.now();
    controller.abort(new LabctlError(ExitCode.interrupted, 'Interrupted.'));
    await assert.rejects(build, /^LabctlError: Interrupted\.$|Interrupted\./);
    assert.ok(Date.now() - pressed < 1_000, `${Date.now() - pressed} ms`);
    assert.match(steps.join('\n'), /Step 2\/\d+ : RUN sleep 61/);
    // The engine stops the step's container and removes it (rm, forcerm), well before the sleep would end.
    const deadline = Date.now() + 30_000;
    while ((await building()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(await building(), [], 'the build step still has a container');
    await assert.rejects(docker.getImage(tag).inspect(), /no such image/i);
  });
});
