import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadLab } from '../../src/core/lab.js';
import { LABEL } from '../../src/core/labels.js';
import { planClass, validateClassOptions, type ClassOptions, type PlannedWorkload } from '../../src/core/plan.js';
import { adminKey, studentKey } from '../../src/core/token.js';
import { LabctlError } from '../../src/errors.js';
import {
  ephemeralOverlap,
  ephemeralWarning,
  maxStudents,
  parsePorts,
  portCollision,
  PORT_BLOCK,
  readEphemeralRange,
  studentPorts,
} from '../../src/core/ports.js';

const options: ClassOptions = {
  className: 'td1',
  students: 3,
  basePort: 10000,
  host: '192.0.2.10',
  bind: '0.0.0.0',
  mailImage: 'labctl/mail:abc',
  sidecarImage: 'labctl/sidecar:abc',
  token: 'secret-token',
  passwords: 'lab',
};

describe('port plan', () => {
  it('gives student n the block base + n*100, each service keeping its last two digits, the page at + 80', async () => {
    const lab = await loadLab();
    assert.deepEqual(studentPorts(lab, 10000, 3), { smtp: 10325, pop3: 10310, imap: 10343, ssh: 10322, web: 10380 });
    assert.deepEqual(studentPorts(lab, 20000, 1), { smtp: 20125, pop3: 20110, imap: 20143, ssh: 20122, web: 20180 });
    assert.deepEqual(studentPorts(lab, 10000, 150), { smtp: 25025, pop3: 25010, imap: 25043, ssh: 25022, web: 25080 });
  });

  it('knows how many students fit below port 65535: at least 150 from the default base', () => {
    assert.equal(PORT_BLOCK, 100);
    assert.equal(maxStudents(10000), 554);
    assert.ok(maxStudents(10000) >= 150);
    assert.ok(10000 + 554 * 100 + 99 <= 65535);
    assert.ok(10000 + 555 * 100 + 99 > 65535);
  });

  it('plans 150 students from the default base on distinct ports, 10110 to 25080, below the ephemeral range', async () => {
    const plan = await planClass(await loadLab(), { ...options, students: 150 });
    const ports = plan.students.flatMap((s) => Object.values(s.ports));
    assert.equal(ports.length, 150 * 5);
    assert.equal(new Set(ports).size, ports.length);
    assert.equal(Math.min(...ports), 10110);
    assert.equal(Math.max(...ports), 25080);
    // Every port lies in its student's own block.
    for (const s of plan.students)
      for (const p of Object.values(s.ports)) assert.equal(Math.floor((p - 10000) / 100), s.student);
    assert.equal(ephemeralOverlap(ports, [32768, 60999]), undefined);
  });

  it('refuses a lab whose services share their last two digits, or the page offset 80, naming both', async () => {
    const lab = await loadLab();
    assert.equal(portCollision(lab.services), undefined);
    const clash = { ...lab, services: { ...lab.services, ssh: 2025 } };
    await assert.rejects(planClass(clash, options), (error: LabctlError) => {
      assert.match(error.message, /services ssh and smtp would share a host port/);
      assert.match(error.message, /port 2025 maps to the same host port as smtp \(port 25\)/);
      assert.match(error.hint ?? '', /last two digits differ/);
      assert.equal(error.exitCode, 2);
      return true;
    });
    const web = { ...lab, services: { ...lab.services, imap: 180 } };
    assert.throws(() => validateClassOptions(options, web), /services imap and web would share a host port/);
    // 110 and 1110 collided mod 1000 too; 110 and 210 only mod 100.
    assert.deepEqual(portCollision({ ...lab.services, imap: 210 }), {
      service: 'imap',
      port: 210,
      other: 'pop3',
      otherPort: 110,
    });
  });
});

describe('ephemeral range', () => {
  const range: [number, number] = [32768, 60999];

  it('finds no overlap for a plan below or above the range', () => {
    assert.equal(ephemeralOverlap([10110, 25080], range), undefined);
    assert.equal(ephemeralOverlap([32767, 61000, 65000], range), undefined);
    assert.equal(ephemeralWarning([10110, 25080], { basePort: 10000, students: 150 }, range), undefined);
  });

  it('counts a plan wholly inside the range, with its first and last port', () => {
    assert.deepEqual(ephemeralOverlap([41110, 41125, 42980], range), { count: 3, first: 41110, last: 42980 });
    assert.deepEqual(ephemeralOverlap([32768, 60999], range), { count: 2, first: 32768, last: 60999 });
  });

  it('counts only the part of a plan that reaches into the range', async () => {
    const lab = await loadLab();
    const ports = Array.from({ length: 150 }, (_, i) => Object.values(studentPorts(lab, 20000, i + 1))).flat();
    // Student 128 onwards (32810...) is inside: 23 students, 5 ports each, but 32780 (student 127's page) too.
    const overlap = ephemeralOverlap(ports, range);
    assert.deepEqual(overlap, { count: 23 * 5 + 1, first: 32780, last: 35080 });
  });

  it('warns with the overlap and both ways out: a lower --base-port, or the range moved with sysctl', () => {
    const warning = ephemeralWarning([41110, 41125, 42980], { basePort: 41000, students: 19 }, range) ?? '';
    assert.match(
      warning,
      /3 of this class's host ports \(41110–42980\) are in the kernel's ephemeral range 32768–60999/,
    );
    assert.match(warning, /lower --base-port \(30768 or less/);
    assert.match(warning, /sysctl -w net\.ipv4\.ip_local_port_range="43000 60999"/);
    // No room above the plan: the range moves below it.
    const high = ephemeralWarning([55110], { basePort: 55000, students: 60 }, range) ?? '';
    assert.match(high, /ip_local_port_range="32768 55099"/);
  });

  it('reads the range from /proc, or nothing when it cannot', () => {
    const read = readEphemeralRange();
    if (read) assert.ok(read[0] > 1024 && read[0] <= read[1]);
    assert.equal(readEphemeralRange('/nonexistent/ip_local_port_range'), undefined);
  });
});

describe('class plan', () => {
  it('plans one network, a disk, seven volumes, a mail server and a sidecar per student, all labelled', async () => {
    const plan = await planClass(await loadLab(), options);
    assert.equal(plan.students.length, 3);
    const s2 = plan.students[1]!;
    assert.equal(s2.network.name, 'labctl-td1-s02');
    assert.deepEqual(s2.network.labels, { [LABEL.class]: 'td1', [LABEL.student]: '2', [LABEL.role]: 'network' });
    assert.deepEqual(
      s2.volumes.map((v) => v.name),
      [
        'labctl-td1-s02-spool',
        'labctl-td1-s02-home',
        'labctl-td1-s02-log',
        'labctl-td1-s02-evidence',
        'labctl-td1-s02-queue',
        'labctl-td1-s02-keys',
        'labctl-td1-s02-progress',
      ],
    );
    // What the student can fill is on their disk of the lab's size; what only labctl's side writes is not.
    assert.deepEqual(s2.disk, {
      name: 'labctl-td1-s02-disk',
      bytes: 1024 ** 3,
      labels: { [LABEL.class]: 'td1', [LABEL.student]: '2', [LABEL.role]: 'disk' },
    });
    assert.deepEqual(
      s2.volumes.filter((v) => v.disk === 'labctl-td1-s02-disk').map((v) => v.labels[LABEL.disk]),
      Array(5).fill('labctl-td1-s02-disk'),
    );
    assert.deepEqual(
      s2.volumes.filter((v) => !v.disk).map((v) => v.name),
      ['labctl-td1-s02-keys', 'labctl-td1-s02-progress'],
    );
    const mail = s2.containers[0]!;
    assert.equal(mail.name, 'labctl-td1-s02-mail');
    assert.equal(mail.labels[LABEL.role], 'mail');
    assert.equal(mail.labels[LABEL.host], '192.0.2.10');
    assert.deepEqual(parsePorts(mail.labels[LABEL.ports]), {
      smtp: 10225,
      pop3: 10210,
      imap: 10243,
      ssh: 10222,
      web: 10280,
    });
    assert.deepEqual(
      mail.ports.find((p) => p.service === 'pop3'),
      { service: 'pop3', container: 110, host: 10210 },
    );
    assert.deepEqual(s2.pair, ['util2', 'util12']);
  });

  it('plans a sidecar that reads only the evidence, read-only, keeps progress on its own volume, and holds its own keys, not the token', async () => {
    const plan = await planClass(await loadLab(), options);
    const sidecar = plan.students[1]!.containers[1]!;
    assert.equal(sidecar.name, 'labctl-td1-s02-sidecar');
    assert.equal(sidecar.labels[LABEL.role], 'sidecar');
    assert.equal(sidecar.labels[LABEL.token], 'secret-token');
    assert.deepEqual(sidecar.ports, [{ service: 'web', container: 8080, host: 10280 }]);
    assert.deepEqual(sidecar.mounts, [
      { volume: 'labctl-td1-s02-evidence', target: '/evidence', readOnly: true, disk: 'labctl-td1-s02-disk' },
      { volume: 'labctl-td1-s02-progress', target: '/state' },
    ]);
    const env = Object.fromEntries(sidecar.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    assert.equal(env.LABCTL_STUDENT_KEY, studentKey('secret-token', 2));
    assert.equal(env.LABCTL_ADMIN_KEY, adminKey('secret-token', 2));
    assert.doesNotMatch(JSON.stringify(plan.students.flatMap((s) => s.containers.map((c) => c.env))), /secret-token/);
    assert.equal(JSON.parse(env.LABCTL_LAB!).exercises.length, 12);
    assert.deepEqual(JSON.parse(env.LABCTL_CARD!).pair, ['util2', 'util12']);
  });

  it("renders Postfix with the student's own host name and domain, and nothing leaving the lab", async () => {
    const plan = await planClass(await loadLab(), options);
    const mainCf = plan.students[2]!.containers[0]!.files.find((f) => f.path === 'etc/postfix/main.cf')!.content;
    assert.match(mainCf, /^myhostname = mail\.s03\.td1\.test$/m);
    assert.match(mainCf, /^mydomain = s03\.td1\.test$/m);
    assert.match(mainCf, /^default_transport = error:5\.7\.1 /m);
    assert.match(mainCf, /^relay_transport = error:5\.7\.1 /m);
    const masterCf = plan.students[2]!.containers[0]!.files.find((f) => f.path === 'etc/postfix/master.cf')!.content;
    assert.doesNotMatch(masterCf, /^\S+\s+\S+\s+\S+\s+\S+\s+y\s/m, 'no service runs chrooted');
  });

  it("renders Courier on the lab's ports and rsyslog into a world-readable mail.log", async () => {
    const files = (await planClass(await loadLab(), options)).students[0]!.containers[0]!.files;
    const get = (p: string) => files.find((f) => f.path === p)!.content;
    assert.match(get('etc/courier/imapd'), /^PORT=143$/m);
    assert.match(get('etc/courier/pop3d'), /^PORT=110$/m);
    assert.match(get('etc/courier/authdaemonrc'), /^authmodulelist="authpam"$/m);
    assert.match(get('etc/rsyslog.conf'), /^\$FileCreateMode 0644$/m);
    assert.match(get('etc/rsyslog.conf'), /^mail\.\* action\(type="omfile" file="\/var\/log\/mail\.log"$/m);
  });

  it('limits every container and runs the sidecar unprivileged', async () => {
    const [mail, sidecar] = (await planClass(await loadLab(), options)).students[0]!.containers as [
      PlannedWorkload,
      PlannedWorkload,
    ];
    assert.deepEqual(mail.limits, {
      pids: 512,
      memoryBytes: 512 * 1024 * 1024,
      cpus: 1,
      log: { maxSize: '1m', maxFiles: 3 },
    });
    assert.equal(sidecar.limits.pids, 64);
    // Root only for its entrypoint, which then runs the sidecar as uid 990 with no capability.
    assert.deepEqual(sidecar.security, {
      user: '0:0',
      capDrop: ['ALL'],
      capAdd: ['CHOWN', 'SETUID', 'SETGID', 'SETPCAP'],
      noNewPrivileges: true,
      readOnlyRootfs: true,
      tmpfs: { '/tmp': 'size=16m' },
    });
    assert.deepEqual(mail.security.capAdd, ['NET_ADMIN']);
    assert.deepEqual(
      mail.mounts.map((m) => m.target),
      ['/var/mail', '/home', '/var/log', '/var/lib/labctl/evidence', '/var/spool/postfix', '/var/lib/labctl/keys'],
    );
    // World-writable /run/lock would otherwise be on the container's layer: the host's disk.
    assert.equal(mail.security.tmpfs?.['/run'], 'size=16m,mode=755');
  });

  it('renders the limits, the evidence channels and a locked-down sshd for each server', async () => {
    const files = (await planClass(await loadLab(), options)).students[1]!.containers[0]!.files;
    const get = (p: string) => files.find((f) => f.path === p)!.content;
    const mainCf = get('etc/postfix/main.cf');
    assert.match(mainCf, /^message_size_limit = 20971520$/m);
    assert.match(mainCf, /^mailbox_size_limit = 52428800$/m);
    assert.match(mainCf, /^smtpd_client_message_rate_limit = 30$/m);
    assert.match(mainCf, /^smtpd_client_event_limit_exceptions =$/m, 'students are in mynetworks: no exemption');
    assert.match(mainCf, /^always_bcc = archive@archive\.labctl\.invalid$/m);
    assert.match(mainCf, /^virtual_uid_maps = static:990$/m);
    const rsyslog = get('etc/rsyslog.conf');
    assert.match(rsyslog, /SysSock\.ParseTrusted="on"/);
    assert.match(rsyslog, /\$!uid == "0" or \$!uid == "@POSTFIX_UID@"/);
    assert.match(rsyslog, /fileCreateMode="0640"/);
    const sshd = get('etc/ssh/sshd_config.d/labctl.conf');
    for (const line of [
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'PermitTunnel no',
      'AllowStreamLocalForwarding no',
    ])
      assert.match(sshd, new RegExp(`^${line}$`, 'm'));
    assert.match(sshd, /^AllowUsers util1 util2 .* util19$/m);
    assert.match(sshd, /^HostKey \/var\/lib\/labctl\/keys\/ssh_host_ed25519_key$/m);
    // Per-source limits, so that one client address cannot lock the student out (README, "Port proxies").
    assert.match(sshd, /^PerSourceMaxStartups 4$/m);
    assert.match(sshd, /^LoginGraceTime 30$/m);
    assert.match(mainCf, /^smtpd_client_connection_count_limit = 10$/m);
    for (const courier of [get('etc/courier/imapd'), get('etc/courier/pop3d')]) {
      assert.match(courier, /^MAXPERIP=10$/m);
      assert.match(courier, /^MAXDAEMONS=40$/m);
    }
    assert.match(get('etc/security/limits.d/labctl.conf'), /^util7 {2}hard {2}nproc {2}64$/m);
    assert.match(get('etc/labctl/uids'), /^util1 102001\nutil2 102002\n/);
  });

  it('gives a container a new spec digest when something that shapes it changes, and only then', async () => {
    const lab = await loadLab();
    const digest = async (o: ClassOptions) => (await planClass(lab, o)).students[0]!.containers[0]!.labels[LABEL.spec];
    assert.equal(await digest(options), await digest({ ...options, students: 5 }));
    assert.notEqual(await digest(options), await digest({ ...options, mailImage: 'labctl/mail:def' }));
    assert.notEqual(await digest(options), await digest({ ...options, host: '192.0.2.11' }));
  });

  it('refuses bad class options with the value and the fix', async () => {
    const lab = await loadLab();
    await assert.rejects(planClass(lab, { ...options, className: 'TD 1' }), /--class "TD 1" is not a valid class name/);
    await assert.rejects(planClass(lab, { ...options, students: 555 }), (error: LabctlError) => {
      assert.equal(error.message, '--students 555 is out of range');
      assert.match(error.hint ?? '', /holds 1 to 554 students \(100 ports each\)/);
      return true;
    });
    await assert.rejects(planClass(lab, { ...options, basePort: 80 }), /--base-port 80 is out of range/);
  });
});
