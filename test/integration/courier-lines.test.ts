import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Board } from '../../src/core/board-model.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import { parseVerifyLog } from '../../src/sidecar/parse-log.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';
import { classBoard, doneIds, imapSession, popSession, smtpSession, waitForCredits } from '../helpers/td.js';

/**
 * Courier's post-login daemons run as the student, and courierlogger (root) relays their stderr to syslog, where
 * the sidecar trusts it. util2, logged in over IMAP and POP3 and holding a shell on their own server, tries to make
 * those daemons log a LOGOUT line with counts they never earned; a classmate tries the same from the network with
 * a login name that holds a line feed. Neither earns a credit; the last test shows the same forgery credited once
 * the daemons are dumpable again, so the assertions here would see it.
 */
const CLASS = `cl${process.pid}`;
const PASSWORD = 'master2021';
const MAIL = `labctl-${CLASS}-s01-mail`;
let info: ClassInfo;
const port = (service: string) => info.students[0]!.ports[service]!;

/** What the daemons would have to log for a credit: lines in Courier's own shape, with counts nobody earned. */
const FORGED = {
  imapd: 'LOGOUT, user=util2, ip=[::ffff:10.9.9.9], port=[1], headers=0, body=9999, rcvd=1, sent=1, time=1',
  courierpop3d: 'LOGOUT, user=util2, ip=[::ffff:10.9.9.9], port=[1], top=0, retr=9999, rcvd=1, sent=1, time=1',
};

/**
 * The student's tool (perl is on every Debian): opens the daemon's memory, finds where it sleeps in a system call
 * (/proc/PID/syscall), and writes x86-64 code there that writes one line to stderr and exits.
 */
const INJECT = String.raw`
my ($pid, $line) = @ARGV;
open(my $mem, '+<:raw', "/proc/$pid/mem") or die "mem: $!\n";
my @f;
for (1 .. 200) { open(my $s, '<', "/proc/$pid/syscall") or die "syscall: $!\n"; @f = split ' ', scalar <$s>; last if @f > 2; select(undef, undef, undef, 0.01); }
die "not asleep in a system call\n" unless @f > 2;
my $msg = "$line\n";
my $code = pack('C*', 0xb8, 1, 0, 0, 0, 0xbf, 2, 0, 0, 0, 0x48, 0x8d, 0x35) . pack('l<', 16)
  . pack('C', 0xba) . pack('L<', length $msg) . pack('C*', 0x0f, 0x05, 0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05) . $msg;
sysseek($mem, hex($f[-1]), 0) or die "seek: $!\n";
syswrite($mem, $code) == length($code) or die "write: $!\n";
`;

/** ptrace(ATTACH), wait for the stop, ptrace(DETACH): x86-64 system call 101. */
const ATTACH = String.raw`
my $pid = $ARGV[0] + 0;
syscall(101, 16, $pid, 0, 0) == 0 or die "ptrace: $!\n";
waitpid($pid, 0);
syscall(101, 17, $pid, 0, 0);
`;

/** Run as util2 over ssh: each way into their own logged-in daemons, and what came of it. */
function probeScript(): string {
  const lines = Object.entries(FORGED).map(([daemon, line]) =>
    [
      `p=$(pgrep -n -u util2 -x ${daemon}) || { echo "${daemon} not running"; exit 1; }`,
      `printf '%s\\n' '${line}' 2>/dev/null > /proc/$p/fd/2 && echo "${daemon} stderr written" || echo "${daemon} stderr refused"`,
      `perl ~/attach.pl $p 2>/dev/null && echo "${daemon} ptrace attached" || echo "${daemon} ptrace refused"`,
      `perl ~/inject.pl $p '${line}' 2>/dev/null && echo "${daemon} memory written" || echo "${daemon} memory refused"`,
    ].join('\n'),
  );
  return [`cat > ~/inject.pl <<'EOF'${INJECT}EOF`, `cat > ~/attach.pl <<'EOF'${ATTACH}EOF`, ...lines].join('\n');
}

/** util2 logged in over IMAP and POP3, sessions kept open, as a mail client and a telnet window would. */
async function openSessions(): Promise<{ imap: Session; pop: Session }> {
  const imap = await Session.open(port('imap'));
  await imap.read(/^\* OK/);
  assert.match(await imap.say(`a1 LOGIN util2 ${PASSWORD}`, /^a1 /), /^a1 OK/);
  const pop = await Session.open(port('pop3'));
  await pop.read(/^\+OK/);
  await pop.send('USER util2', /^[+-]/);
  assert.match(await pop.say(`PASS ${PASSWORD}`, /^[+-]/), /^\+OK/);
  return { imap, pop };
}

async function probe(): Promise<string> {
  const r = await sshRun(port('ssh'), 'util2', PASSWORD, probeScript());
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Waits until each exercise is either done or has a hint: the sidecar has read the lines that decide it. */
async function waitForOutcome(ids: string[]): Promise<Board> {
  let last: Board | undefined;
  for (let i = 0; i < 40; i++) {
    last = await classBoard(CLASS);
    const exercises = last.students[0]!.exercises;
    if (ids.every((id) => exercises.some((e) => e.id === id && (e.done || e.hint !== undefined)))) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`no credit nor hint for ${ids.join(', ')}: ${JSON.stringify(last?.students[0]?.exercises)}`);
}

const exercise = (b: Board, id: string) => b.students[0]!.exercises.find((e) => e.id === id)!;

describe("Courier's log lines cannot be forged", { timeout: 300_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    const up = await labctl(upArgs(CLASS, 1, await freeBasePort(1)));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(() => cleanClass(CLASS));

  it('from the network, a login name holding a line feed logs no line that earns a credit', async () => {
    const imap = await Session.open(port('imap'));
    await imap.read(/^\* OK/);
    for (const [i, eol] of ['\n', '\r\n'].entries()) {
      const name = `x${eol}${FORGED.imapd}${eol}`;
      await imap.send(`l${i} LOGIN {${Buffer.byteLength(name)}}`, /^\+/);
      assert.match(await imap.say(`${name} {2}`, /^\+|^l/), /^\+/);
      assert.match(await imap.say('pw', new RegExp(`^l${i} `)), /^l\d NO/);
    }
    const plain = Buffer.from(`\0x\n${FORGED.imapd}\0pw`).toString('base64');
    await imap.send('p1 AUTHENTICATE PLAIN', /^\+/);
    assert.match(await imap.say(plain, /^p1 /), /^p1 NO/);
    imap.close();

    const pop = await Session.open(port('pop3'));
    await pop.read(/^\+OK/);
    await pop.send(`USER x\r${FORGED.courierpop3d}`, /^[+-]/);
    assert.match(await pop.say('PASS pw', /^[+-]/), /^-ERR/);
    pop.close();

    // The failed logins reach the sidecar (their hints show), and earn nothing.
    const board = await waitForOutcome(['imap-login', 'pop-login']);
    assert.deepEqual(doneIds(board, 1), []);
    // Courier logged the names, line feeds turned into dots, inside its own LOGIN FAILED line: in the
    // verification log, no line is a login, nor a logout that read anything, whatever counts the name carried.
    const verify = (await exec(MAIL, ['cat', '/var/lib/labctl/evidence/log/verify.log'])).output;
    assert.match(verify, /LOGIN FAILED, user=x\.LOGOUT, user=util2/);
    const earning = parseVerifyLog(verify).filter(
      (e) => e.type === 'login' || (e.type === 'logout' && ((e.counts.body ?? 0) > 0 || (e.counts.retr ?? 0) > 0)),
    );
    assert.deepEqual(earning, []);
  });

  it("util2's own daemons, logged in: their stderr, ptrace and memory are refused, and nothing is credited until a real FETCH and RETR", async () => {
    await smtpSession(port('smtp'), 'util1', ['util2'], ['Subject: pour util2', '', 'un message à lire', '']);
    const { imap, pop } = await openSessions();
    try {
      // An IMAP ID whose fields look like counts (Courier logs ID only when IMAP_ID_FIELDS is set).
      await imap.send('a2 ID ("name" "x, body=9999, rcvd=1, sent=1")', /^a2 /);
      const out = await probe();
      for (const daemon of Object.keys(FORGED)) {
        assert.match(out, new RegExp(`^${daemon} stderr refused$`, 'm'), out);
        assert.match(out, new RegExp(`^${daemon} ptrace refused$`, 'm'), out);
        assert.match(out, new RegExp(`^${daemon} memory refused$`, 'm'), out);
      }
      // Both sessions still answer, then end the ordinary way, having read nothing.
      assert.match(await imap.say('a3 NOOP', /^a3 /), /^a3 OK/);
      await imap.send('a4 LOGOUT', /^a4 /);
      assert.match(await pop.say('NOOP', /^[+-]/), /^\+OK/);
      await pop.send('QUIT', /^[+-]/);
    } finally {
      imap.close();
      pop.close();
    }
    const board = await waitForOutcome(['imap-fetch', 'pop-retr']);
    assert.equal(exercise(board, 'imap-fetch').done, false, JSON.stringify(exercise(board, 'imap-fetch')));
    assert.equal(exercise(board, 'pop-retr').done, false, JSON.stringify(exercise(board, 'pop-retr')));

    await imapSession(port('imap'), 'util2', PASSWORD, true);
    await popSession(port('pop3'), 'util2', PASSWORD, true);
    const credited = await waitForCredits(CLASS, 1, ['imap-fetch', 'pop-retr']);
    assert.match(exercise(credited, 'imap-fetch').evidence ?? '', /util2 .*body=\d+/);
    assert.match(exercise(credited, 'pop-retr').evidence ?? '', /util2 .*retr=\d+ /);
    assert.doesNotMatch(JSON.stringify(credited), /9999/);
  });

  it(
    'the same forgery, once the daemons are dumpable again (a readable binary), is credited: the test above would see it',
    { skip: process.arch !== 'x64' && 'the injected code is x86-64' },
    async () => {
      // What a Courier or Debian update that dropped the mode 0711 would do.
      const chmod = await exec(MAIL, ['chmod', '0755', '/usr/bin/imapd', '/usr/lib/courier/courier/courierpop3d']);
      assert.equal(chmod.code, 0, chmod.output);
      const reset = await labctl(['reset', '--class', CLASS, '--student', '1', '--progress', '--yes']);
      assert.equal(reset.code, 0, reset.stderr);
      const { imap, pop } = await openSessions();
      try {
        const out = await probe();
        for (const daemon of Object.keys(FORGED)) {
          assert.match(out, new RegExp(`^${daemon} stderr refused$`, 'm'), out);
          assert.match(out, new RegExp(`^${daemon} ptrace attached$`, 'm'), out);
          assert.match(out, new RegExp(`^${daemon} memory written$`, 'm'), out);
        }
        // Woken by a command, each daemon runs the written code: the forged line, then exit.
        imap.type('a3 NOOP');
        pop.type('NOOP');
        const credited = await waitForCredits(CLASS, 1, ['imap-fetch', 'pop-retr']);
        assert.match(exercise(credited, 'imap-fetch').evidence ?? '', /body=9999/);
        assert.match(exercise(credited, 'pop-retr').evidence ?? '', /retr=9999/);
      } finally {
        imap.close();
        pop.close();
      }
    },
  );
});
