import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { splitAddress } from '../../src/sidecar/address.js';
import { accountOf } from '../../src/sidecar/address.js';
import { lineTime } from '../../src/core/log-time.js';
import { parseLog, parseLogLine, parseVerifyLine } from '../../src/sidecar/parse-log.js';

/** A fixed clock, a day after the lines below were written. */
const CLOCK = () => new Date('2026-11-27T12:00:00Z');

const TRADITIONAL = 'Nov 26 09:52:41 mail ';
const RFC3339 = '2026-11-26T09:52:41.123456+00:00 mail ';
const FORMATS = [
  { name: 'traditional', prefix: TRADITIONAL, time: '2026-11-26T09:52:41.000Z' },
  { name: 'RFC 3339', prefix: RFC3339, time: '2026-11-26T09:52:41.123Z' },
];

for (const { name, prefix, time } of FORMATS) {
  const parse = (line: string) => parseLogLine(prefix + line, CLOCK);

  describe(`parseLogLine, ${name} timestamps`, () => {
    it('reads the time and keeps the raw line', () => {
      const line = `${prefix}postfix/smtpd[163]: connect from unknown[10.213.1.1]`;
      assert.deepEqual(parseLogLine(line, CLOCK), {
        type: 'smtp-connect',
        time,
        raw: line,
        client: 'unknown',
        ip: '10.213.1.1',
      });
    });

    it('reads the SMTP command counts of a disconnect', () => {
      const e = parse(
        'postfix/smtpd[163]: disconnect from unknown[10.213.1.1] helo=1 mail=1 rcpt=2 data=1 quit=1 commands=6',
      );
      assert.equal(e?.type, 'smtp-disconnect');
      assert.deepEqual(e?.type === 'smtp-disconnect' && e.counts, {
        helo: 1,
        mail: 1,
        rcpt: 2,
        data: 1,
        quit: 1,
        commands: 6,
      });
    });

    it('marks a queue id received over SMTP', () => {
      const e = parse('postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]');
      assert.deepEqual(e && { type: e.type, queueId: 'queueId' in e && e.queueId }, {
        type: 'smtp-client',
        queueId: '6027918029D',
      });
    });

    it('reads an empty message-id', () => {
      const e = parse('postfix/cleanup[166]: 6027918029D: message-id=<>');
      assert.ok(e?.type === 'message-id');
      assert.equal(e.queueId, '6027918029D');
      assert.equal(e.messageId, '');
    });

    it('reads the envelope of a queued message', () => {
      const e = parse(
        'postfix/qmgr[161]: 6027918029D: from=<president@u-picardie.fr>, size=190, nrcpt=2 (queue active)',
      );
      assert.ok(e?.type === 'queued');
      assert.deepEqual(
        { queueId: e.queueId, from: e.from, size: e.size, nrcpt: e.nrcpt },
        { queueId: '6027918029D', from: 'president@u-picardie.fr', size: 190, nrcpt: 2 },
      );
    });

    it('reads a local delivery', () => {
      const e = parse(
        'postfix/local[168]: 6027918029D: to=<util1@s01.td1.test>, orig_to=<util1>, relay=local, delay=0.02, delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (delivered to mailbox)',
      );
      assert.ok(e?.type === 'delivery');
      assert.deepEqual(
        {
          queueId: e.queueId,
          transport: e.transport,
          to: e.to,
          origTo: e.origTo,
          relay: e.relay,
          dsn: e.dsn,
          status: e.status,
          detail: e.detail,
        },
        {
          queueId: '6027918029D',
          transport: 'local',
          to: 'util1@s01.td1.test',
          origTo: 'util1',
          relay: 'local',
          dsn: '2.0.0',
          status: 'sent',
          detail: 'delivered to mailbox',
        },
      );
    });

    it('reads a bounce by the error transport, nested parentheses included', () => {
      const e = parse(
        'postfix/error[170]: ABC123: to=<x@gmail.com>, relay=none, delay=0.1, delays=0.1/0/0/0, dsn=5.7.1, status=bounced (labctl: mail to other domains stays in the lab (envoi hors du lab bloque))',
      );
      assert.ok(e?.type === 'delivery');
      assert.equal(e.to, 'x@gmail.com');
      assert.equal(e.origTo, undefined);
      assert.equal(e.relay, 'none');
      assert.equal(e.status, 'bounced');
      assert.equal(e.detail, 'labctl: mail to other domains stays in the lab (envoi hors du lab bloque)');
    });

    it('reads a NOQUEUE reject with its envelope', () => {
      const e = parse(
        'postfix/smtpd[163]: NOQUEUE: reject: RCPT from unknown[10.213.1.1]: 550 5.1.1 <nobody@s01.td1.test>: Recipient address rejected: User unknown in local recipient table; from=<a@b> to=<nobody@s01.td1.test> proto=SMTP helo=<pv>',
      );
      assert.ok(e?.type === 'reject');
      assert.equal(e.queueId, undefined);
      assert.equal(e.stage, 'RCPT');
      assert.equal(e.ip, '10.213.1.1');
      assert.equal(e.code, 550);
      assert.equal(
        e.reason,
        '5.1.1 <nobody@s01.td1.test>: Recipient address rejected: User unknown in local recipient table',
      );
      assert.deepEqual([e.from, e.to, e.helo], ['a@b', 'nobody@s01.td1.test', 'pv']);
    });

    it('reads Courier IMAP and POP3 logins', () => {
      const imap = parse('imapd: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[49046], protocol=IMAP');
      const pop = parse('pop3d: LOGIN, user=util11, ip=[::ffff:10.213.1.1], port=[49050]');
      assert.ok(imap?.type === 'login' && pop?.type === 'login');
      assert.deepEqual([imap.service, imap.user, imap.ip], ['imap', 'util1', '::ffff:10.213.1.1']);
      assert.deepEqual([pop.service, pop.user], ['pop3', 'util11']);
    });

    it('reads every count of a Courier logout', () => {
      const imap = parse(
        'imapd: LOGOUT, user=util1, ip=[::ffff:10.213.1.1], headers=0, body=120, rcvd=60, sent=900, time=5',
      );
      const pop = parse(
        'pop3d: LOGOUT, user=util1, ip=[::ffff:10.213.1.1], port=[49050], top=0, retr=312, rcvd=40, sent=500, time=3',
      );
      assert.ok(imap?.type === 'logout' && pop?.type === 'logout');
      assert.deepEqual(
        [imap.service, imap.user, imap.counts],
        ['imap', 'util1', { headers: 0, body: 120, rcvd: 60, sent: 900, time: 5 }],
      );
      assert.deepEqual([pop.service, pop.counts], ['pop3', { top: 0, retr: 312, rcvd: 40, sent: 500, time: 3 }]);
    });

    it('reads a logout without a user, from a session that never logged in', () => {
      const e = parse('pop3d: LOGOUT, ip=[::ffff:10.213.1.1], port=[49052], rcvd=10, sent=325');
      assert.ok(e?.type === 'logout');
      assert.equal(e.user, undefined);
      assert.deepEqual(e.counts, { rcvd: 10, sent: 325 });
    });

    it('reads failed logins, the service taken from the program name', () => {
      const imap = parse('imapd: LOGIN FAILED, user=util1, ip=[::ffff:10.213.1.1]');
      const pop = parse('pop3d-ssl[90]: LOGIN FAILED, user=util2, ip=[::ffff:10.213.1.1]');
      assert.ok(imap?.type === 'login-failed' && pop?.type === 'login-failed');
      assert.deepEqual([imap.service, imap.user, pop.service, pop.user], ['imap', 'util1', 'pop3', 'util2']);
    });

    it('goes by the fields, not a misprinted keyword', () => {
      assert.equal(parse('imapd-ssl: LOGIN, FAILED, user=util1, ip=[::ffff:10.213.1.1]')?.type, 'login-failed');
      assert.equal(
        parse('imapd: LOGOUT, user=util1, ip=[::ffff:10.213.1.1], port=[49046], protocol=IMAP')?.type,
        'login',
      );
      assert.equal(
        parse('pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[1], top=0, retr=5, rcvd=1, sent=2, time=0')
          ?.type,
        'logout',
      );
    });

    it('ignores lines it does not know', () => {
      assert.equal(parse('postfix/qmgr[161]: 6027918029D: removed'), undefined);
      assert.equal(parse('imapd: Connection, ip=[::ffff:10.213.1.1]'), undefined);
      assert.equal(parse('imapd: authentication error: Input/output error'), undefined);
      assert.equal(parse('sshd[12]: Accepted password for util1 from 10.213.1.1 port 5 ssh2'), undefined);
    });
  });
}

describe('parseLogLine on garbage', () => {
  it('returns undefined and never throws', () => {
    for (const line of [
      '',
      'garbage',
      'Feb 31 09:52:41 mail postfix/smtpd[1]: connect from a[1]',
      '2026-13-45T99:99:99Z mail x: y',
      '\u0000\uffff[]==<<',
      `${RFC3339}postfix/smtpd[1]:`,
    ]) {
      assert.equal(parseLogLine(line, CLOCK), undefined, line);
    }
  });

  it('puts traditional lines in the year of the clock, or last year when they would be in the future', () => {
    const january = () => new Date('2027-01-02T08:00:00Z');
    const line = (stamp: string) => `${stamp} mail postfix/smtpd[163]: connect from unknown[10.213.1.1]`;
    assert.equal(parseLogLine(line('Dec 31 23:59:59'), january)?.time, '2026-12-31T23:59:59.000Z');
    assert.equal(parseLogLine(line('Jan  2 07:59:00'), january)?.time, '2027-01-02T07:59:00.000Z');
    assert.equal(lineTime(line('Nov 26 09:52:41'), january), '2026-11-26T09:52:41.000Z');
    // A little ahead of the clock (a skew of minutes) is still this year.
    assert.equal(parseLogLine(line('Jan  2 08:05:00'), january)?.time, '2027-01-02T08:05:00.000Z');
    assert.equal(parseLogLine(line('Feb 29 10:00:00'), january), undefined, '2026 has no 29 February');
  });

  it('converts an RFC 3339 offset to UTC', () => {
    assert.equal(
      parseLogLine('2026-11-26T10:52:41+01:00 mail imapd: LOGIN, user=util1, ip=[::1]')?.time,
      '2026-11-26T09:52:41.000Z',
    );
  });
});

describe('parseLog', () => {
  it('keeps the known lines of a CRLF log, in order', () => {
    const text = [
      'Nov 26 09:52:41 mail postfix/smtpd[163]: connect from unknown[10.213.1.1]',
      'Nov 26 09:52:41 mail postfix/anvil[9]: statistics: max connection rate 1/60s',
      '2026-11-26T09:52:42.000001+00:00 mail pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[49050]',
      '',
    ].join('\r\n');
    assert.deepEqual(
      parseLog(text, CLOCK).map((e) => [e.type, e.time]),
      [
        ['smtp-connect', '2026-11-26T09:52:41.000Z'],
        ['login', '2026-11-26T09:52:42.000Z'],
      ],
    );
  });
});

describe('parseVerifyLine, the trusted verification log', () => {
  const STAMP = '2026-11-26T09:52:41.123456+00:00';

  it('reads a Postfix line and keeps the uid and pid the kernel reported', () => {
    const line = `${STAMP} uid=101 pid=163 mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]`;
    assert.deepEqual(parseVerifyLine(line), {
      type: 'smtp-client',
      time: '2026-11-26T09:52:41.123Z',
      raw: line,
      uid: 101,
      pid: 163,
      queueId: '6027918029D',
      client: 'unknown',
      ip: '10.213.1.1',
    });
  });

  it('reads Courier lines (uid 0, through courierlogger) and local(8) lines', () => {
    const pop = parseVerifyLine(
      '2026-11-26T09:53:00.000001+00:00 uid=0 pid=88 mail pop3d: LOGIN, user=util1, ip=[::ffff:10.213.1.1], port=[39270]',
    );
    assert.ok(pop?.type === 'login');
    assert.deepEqual(
      [pop.service, pop.user, pop.uid, pop.pid, pop.time],
      ['pop3', 'util1', 0, 88, '2026-11-26T09:53:00.000Z'],
    );
    const local = parseVerifyLine(
      `${STAMP} uid=0 pid=168 mail postfix/local[168]: AB12: to=<util1@s01.td1.test>, orig_to=<util1>, relay=local, delay=0.02, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)`,
    );
    assert.ok(local?.type === 'delivery');
    assert.deepEqual(
      [local.transport, local.to, local.origTo, local.status],
      ['local', 'util1@s01.td1.test', 'util1', 'sent'],
    );
  });

  it('skips lines of any other shape, mail.log lines included', () => {
    for (const line of [
      'Nov 26 09:52:41 mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]',
      `${STAMP} mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]`,
      `${STAMP} pid=163 uid=101 mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]`,
      `${STAMP} uid=101 pid= mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]`,
      `${STAMP}  uid=101 pid=163 mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]`,
      `x ${STAMP} uid=101 pid=163 mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]`,
      `2026-11-26 09:52:41 uid=101 pid=163 mail postfix/smtpd[163]: 6027918029D: client=unknown[10.213.1.1]`,
      '',
    ]) {
      assert.equal(parseVerifyLine(line), undefined, line);
    }
  });

  it('does not believe a uid outside the trusted ones (a student running logger)', () => {
    const forged = `${STAMP} uid=2001 pid=900 mail postfix/qmgr[171]: 8D7C6B5A4F: from=<president@u-picardie.fr>, size=300, nrcpt=2 (queue active)`;
    assert.equal(parseVerifyLine(forged), undefined);
    assert.equal(parseVerifyLine(forged, new Set([2001]))?.type, 'queued');
  });

  it('reads a quoted address whole: a local part quoted to look like other fields forges none', () => {
    const line = `${STAMP} uid=0 pid=168 mail postfix/local[168]: AB12: to=<util1@s01.td1.test>, orig_to=<"util1+x>, orig_to=<util11"@s01.td1.test>, relay=local, delay=0.02, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)`;
    const e = parseVerifyLine(line);
    assert.ok(e?.type === 'delivery');
    assert.equal(e.origTo, '"util1+x>, orig_to=<util11"@s01.td1.test');
    assert.equal(accountOf(e.origTo), 'util1');
  });

  it("reads a sender quoted to look like the qmgr line's own fields as one address at the student's domain", () => {
    // The line. Postfix 3.7 refuses "@" and ">" together in the quotes, but logs "x\>" as a bare "x>".
    const line = `${STAMP} uid=101 pid=161 mail postfix/qmgr[161]: AB12: from=<"boss@gmail.com>, size=1, nrcpt=1 x"@s01.td1.test>, size=300, nrcpt=2 (queue active)`;
    const e = parseVerifyLine(line);
    assert.ok(e?.type === 'queued');
    assert.deepEqual(
      { from: e.from, size: e.size, nrcpt: e.nrcpt },
      { from: '"boss@gmail.com>, size=1, nrcpt=1 x"@s01.td1.test', size: 300, nrcpt: 2 },
    );
    assert.deepEqual(splitAddress(e.from), { local: 'boss@gmail.com>, size=1, nrcpt=1 x', domain: 's01.td1.test' });
    const escaped = parseVerifyLine(line.replace('x"@', 'x\\"@gmail.com>, size=9, nrcpt=9 "@'));
    assert.ok(escaped?.type === 'queued');
    // An escaped quote does not end the quoted part: still one address at the student's domain.
    assert.equal(splitAddress(escaped.from)?.domain, 's01.td1.test', escaped.from);
    assert.equal(escaped.size, 300);
  });

  it('refuses an address outside the grammar rather than guess at it', () => {
    for (const from of ['"unterminated@gmail.com', 'a b@gmail.com', 'a@b@gmail.com']) {
      const line = `${STAMP} uid=101 pid=161 mail postfix/qmgr[161]: AB12: from=<${from}>, size=300, nrcpt=2 (queue active)`;
      assert.equal(parseVerifyLine(line), undefined, from);
    }
  });

  it('takes a refused recipient only where the reason and to= agree, whatever the HELO name says', () => {
    const reject = (tail: string) =>
      parseVerifyLine(
        `${STAMP} uid=101 pid=163 mail postfix/smtpd[163]: NOQUEUE: reject: RCPT from unknown[10.213.1.1]: ${tail}`,
      );
    const real = reject(
      '554 5.7.1 <x@gmail.com>: Relay access denied; from=<a@b> to=<x@gmail.com> proto=SMTP helo=<pv>',
    );
    assert.ok(real?.type === 'reject');
    assert.equal(real.recipient, 'x@gmail.com');
    const injected = reject(
      '550 5.1.1 <nobody@s01.td1.test>: Recipient address rejected: User unknown in local recipient table; from=<a@b> to=<nobody@s01.td1.test> proto=SMTP helo=<pv> to=<x@gmail.com>',
    );
    assert.ok(injected?.type === 'reject');
    assert.equal(injected.to, 'nobody@s01.td1.test');
    assert.equal(injected.helo, 'pv> to=<x@gmail.com');
    assert.equal(injected.recipient, 'nobody@s01.td1.test');
  });
});
