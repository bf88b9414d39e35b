import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { ClassInfo } from '../../src/core/class-model.js';
import { MAIL_SERVICE_LIMITS, SIDECAR_HTTP_LIMITS } from '../../src/core/limits.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass } from '../helpers/docker.js';
import { createNetns, jsonLines, type Netns } from '../helpers/netns.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';
import { smtpSession, waitForCredits } from '../helpers/td.js';

/**
 * The room's network: a classmate's PC is a network namespace with its own address, joined to the host by a veth
 * pair. The class is published on every address of the host, so the classmate reaches it at the host's end of the
 * veth, and student 1 from the host itself (which their server sees as their network's gateway).
 */
const CLASS = `rn${process.pid}`;
const PASSWORD = 'master2021';
const HOLD = 60;
let ns: Netns;
let info: ClassInfo;
const port = (service: string) => info.students[0]!.ports[service]!;

interface PortSummary {
  open: number;
  greeted: number;
  closed: number;
  first: Record<string, number>;
}
type Summary = Record<string, PortSummary>;

/** The next line from a client in the namespace, or a failure that says what was awaited. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The first lines a port greeted the classmate with, matching `pattern`, counted. */
const greetedWith = (p: PortSummary, pattern: RegExp) =>
  Object.entries(p.first)
    .filter(([line]) => pattern.test(line))
    .reduce((n, [, count]) => n + count, 0);

describe("the room's network: a classmate's own address", { timeout: 600_000 }, () => {
  let holder: ChildProcess | undefined;
  before(async () => {
    ns = await createNetns();
    await cleanClass(CLASS);
    const args = upArgs(CLASS, 1, await freeBasePort(1));
    args[args.indexOf('--bind') + 1] = '0.0.0.0';
    const up = await labctl(args);
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    holder?.kill();
    await ns?.remove();
    await cleanClass(CLASS);
  });

  it('is the address the mail log and the credit evidence show', async () => {
    const client = ns.client({ pop: { host: ns.hostAddress, port: port('pop3'), user: 'util1', password: PASSWORD } });
    const pop = await within(30_000, 'the POP3 session', jsonLines(client).until<string[]>('pop'));
    assert.ok(pop.includes('S: +OK logged in.'), pop.join('\n'));
    const board = await waitForCredits(CLASS, 1, ['pop-login']);
    const evidence = board.students[0]!.exercises.find((e) => e.id === 'pop-login')!.evidence ?? '';
    assert.match(
      evidence,
      new RegExp(`util1 connecté en POP3 depuis (::ffff:)?${ns.clientAddress.replaceAll('.', '\\.')}$`),
    );
    const logs = await labctl(['logs', '--class', CLASS, '--student', '1']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`pop3d: LOGIN, user=util1, ip=\\[::ffff:${ns.clientAddress}\\]`));
  });

  /** What each server had answered the classmate, once it had answered every socket. */
  let settled: Summary;
  let report: Summary;

  it(`a classmate holding ${HOLD} sockets on every port does not lock student 1 out`, async () => {
    const ports = Object.fromEntries(['smtp', 'pop3', 'imap', 'ssh', 'web'].map((s) => [s, port(s)]));
    holder = ns.client({ hold: { host: ns.hostAddress, ports, count: HOLD, http: ['web'] } });
    const { until } = jsonLines(holder);
    await within(120_000, 'the held sockets', until<Summary>('ready'));

    // Student 1, from the host, meanwhile: their page, ssh, an SMTP dialogue, POP3 and IMAP logins.
    const page = await fetch(info.students[0]!.page!);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<h1>Étudiant 1 — /);
    const ssh = await sshRun(port('ssh'), 'util1', PASSWORD, 'echo connecté');
    assert.equal(ssh.stdout.trim(), 'connecté', ssh.stderr);
    await smtpSession(port('smtp'), 'util1', ['util11'], ['Subject: malgré le voisin', '', 'corps', '']);
    const pop = await Session.open(port('pop3'));
    try {
      await pop.read(/^\+OK/);
      await pop.send('USER util1', /^[+-]/);
      assert.match(await pop.say(`PASS ${PASSWORD}`, /^[+-]/), /^\+OK/);
      await pop.send('QUIT', /^[+-]/);
    } finally {
      pop.close();
    }
    const imap = await Session.open(port('imap'));
    try {
      await imap.read(/^\* OK/);
      assert.match(await imap.say(`a1 LOGIN util1 ${PASSWORD}`, /^a1 /), /^a1 OK/);
      await imap.send('a2 LOGOUT', /^a2 /);
    } finally {
      imap.close();
    }

    // Every server has answered each of the classmate's sockets (a greeting or a refusal), and the classmate held
    // their share of the mail ports all along.
    settled = await within(60_000, 'an answer to every held socket', until<Summary>('settled'));
    holder.stdin!.write('report\n');
    report = await within(10_000, 'the report', until<Summary>('report'));
    for (const service of ['smtp', 'pop3', 'imap']) assert.ok(report[service]!.open >= 1, JSON.stringify(report));
    holder.stdin!.end();
  });

  it("each service gave the classmate's address its share and refused them alone; the mail log names them", async () => {
    const shown = JSON.stringify(settled);
    const limits = MAIL_SERVICE_LIMITS.perSource;
    assert.ok(settled.imap!.greeted >= 1 && settled.imap!.greeted <= limits.courier, shown);
    assert.ok(settled.pop3!.greeted >= 1 && settled.pop3!.greeted <= limits.courier, shown);
    const sshBanners = greetedWith(settled.ssh!, /^SSH-/);
    assert.ok(sshBanners >= 1 && sshBanners <= limits.sshStartups, shown);
    assert.equal(greetedWith(settled.ssh!, /^Exceeded MaxStartups$/), HOLD - sshBanners, shown);
    // The page's server took no more than its share of idle sockets, each ended by the headers timeout (408).
    const web = report.web!;
    assert.ok(web.open + greetedWith(web, /^HTTP\/1\.1 408 /) <= SIDECAR_HTTP_LIMITS.perSource, JSON.stringify(web));
    // Postfix's per-client limit: "421 … too many connections from <the classmate's address>", while the host's
    // SMTP dialogue above went through.
    assert.equal(greetedWith(settled.smtp!, /^220 /), limits.smtp, shown);
    const refused = new RegExp(
      `^421 4\\.7\\.0 .*too many connections from ${ns.clientAddress.replaceAll('.', '\\.')}$`,
    );
    assert.equal(greetedWith(settled.smtp!, refused), HOLD - limits.smtp, shown);

    const logs = await labctl(['logs', '--class', CLASS, '--student', '1']);
    const exceeded = `Connection concurrency limit exceeded: ${limits.smtp + 1} from unknown[${ns.clientAddress}] for service smtp`;
    assert.ok(logs.stdout.includes(exceeded), `labctl logs has no "${exceeded}"`);
    assert.ok(logs.stdout.includes(`Maximum connection limit reached for ::ffff:${ns.clientAddress}`));
  });
});
