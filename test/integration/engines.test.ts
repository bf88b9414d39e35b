/**
 * The TD's sessions on both engines: the local one (containers) and Docker Swarm mode (services, on a one-node swarm
 * made here or reused). LABCTL_TEST_ENGINES=swarm (or local) runs one of them.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { ClassInfo } from '../../src/core/class-model.js';
import { BIN, labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { docker, exec } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';
import { cleanSwarmClass, ensureSwarm, leaveSwarm, workloadContainer } from '../helpers/swarm.js';
import { waitForCredits } from '../helpers/td.js';

const run = promisify(execFile);
const PASSWORD = 'master2021';
// The TD on the local engine is td-lab.test.ts's; here, by default, on Swarm (LABCTL_TEST_ENGINES=local,swarm: both).
const ENGINES = (process.env.LABCTL_TEST_ENGINES ?? 'swarm').split(',') as ('local' | 'swarm')[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let swarmCreated = false;
/** Reset backups go to a directory of the test's own (the CLI children inherit LABCTL_DATA_DIR). */
let dataDir = '';
before(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'labctl-swdata-'));
  process.env.LABCTL_DATA_DIR = dataDir;
  if (ENGINES.includes('swarm')) swarmCreated = await ensureSwarm();
});
after(async () => {
  await leaveSwarm(swarmCreated);
  await rm(dataDir, { recursive: true, force: true });
});

for (const engine of ENGINES) {
  describe(`the TD on the ${engine} engine, two students`, { timeout: 900_000 }, () => {
    const CLASS = `sw${engine[0]}${process.pid}`;
    let base = 0;
    let info: ClassInfo;
    const port = (student: number, service: string) => info.students[student - 1]!.ports[service]!;
    const domain = (student: number) => info.students[student - 1]!.domain;
    const mail = async (student: number) => (await workloadContainer(CLASS, student, 'mail')).Id;
    const up = (students: number, extra: string[] = []) =>
      labctl([...upArgs(CLASS, students, base), '--engine', engine, ...extra]);

    async function sendMail(student: number, from: string, rcpts: string[], body: string[]): Promise<string> {
      const s = await Session.open(port(student, 'smtp'));
      try {
        assert.match((await s.read(SMTP_FINAL))[0]!, /^220 mail\.s0\d\..* ESMTP Postfix/);
        assert.match(await s.say('helo pv', SMTP_FINAL), /^250 /);
        assert.match(await s.say(`mail from: ${from}`, SMTP_FINAL), /^250 2\.1\.0 Ok/);
        for (const r of rcpts) assert.match(await s.say(`rcpt to: ${r}`, SMTP_FINAL), /^250 2\.1\.5 Ok/);
        assert.match(await s.say('data', SMTP_FINAL), /^354 /);
        for (const line of body) s.type(line);
        const queued = await s.say('.', SMTP_FINAL);
        assert.match(queued, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
        assert.match(await s.say('quit', SMTP_FINAL), /^221 /);
        return queued.split(' ').at(-1)!;
      } finally {
        s.close();
      }
    }

    /** What util12 of student 2 sees in their spool over ssh, once it holds `text`. */
    async function spoolOverSsh(student: number, user: string, text: string): Promise<string> {
      let out = '';
      for (let i = 0; i < 50; i++) {
        out = (await sshRun(port(student, 'ssh'), user, PASSWORD, `cat /var/spool/mail/${user}`)).stdout;
        if (out.includes(text)) return out;
        await sleep(200);
      }
      assert.fail(`${user}'s spool never held "${text}":\n${out}`);
    }

    async function popList(student: number, user: string): Promise<string[]> {
      const s = await Session.open(port(student, 'pop3'));
      try {
        await s.read(/^\+OK/);
        assert.match(await s.say(`USER ${user}`, /^\+OK|^-ERR/), /^\+OK/);
        assert.match(await s.say(`PASS ${PASSWORD}`, /^\+OK|^-ERR/), /^\+OK/);
        const list = await s.send('LIST', /^\.$/);
        await s.say('QUIT', /^\+OK|^-ERR/);
        return list;
      } finally {
        s.close();
      }
    }

    before(async () => {
      await cleanSwarmClass(CLASS);
      base = await freeBasePort(2);
      const started = await up(2);
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stdout, new RegExp(`Class ${CLASS} is up: 2 students`));
      info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    });

    after(async () => {
      await cleanSwarmClass(CLASS);
    });

    it(`runs each student's servers as ${engine === 'swarm' ? 'services on their own overlay network, ports in host mode' : 'containers on their own bridge'}`, async () => {
      const label = [`dev.labctl.class=${CLASS}`];
      const networks = await docker.listNetworks({ filters: { label } });
      assert.deepEqual(networks.map((n) => n.Name).sort(), [`labctl-${CLASS}-s01`, `labctl-${CLASS}-s02`]);
      assert.ok(networks.every((n) => n.Driver === (engine === 'swarm' ? 'overlay' : 'bridge')));
      const services = engine === 'swarm' ? await docker.listServices({ filters: { label } }) : [];
      if (engine === 'swarm') {
        assert.deepEqual(services.map((s) => s.Spec!.Name).sort(), [
          `labctl-${CLASS}-s01-mail`,
          `labctl-${CLASS}-s01-sidecar`,
          `labctl-${CLASS}-s02-mail`,
          `labctl-${CLASS}-s02-sidecar`,
        ]);
        for (const s of services) {
          assert.equal(s.Spec!.Labels!['dev.labctl.engine'], 'swarm');
          assert.ok(s.Spec!.EndpointSpec!.Ports!.every((p) => p.PublishMode === 'host'));
          assert.match(s.Spec!.TaskTemplate!.Placement!.Constraints![0]!, /^node\.id==\w+$/);
        }
        // Overlay networks get subnets from the swarm's own pool.
        const subnet = (await docker.getNetwork(networks[0]!.Id).inspect()).IPAM?.Config?.[0]?.Subnet as string;
        assert.match(subnet, /^\d+\.\d+\.\d+\.\d+\/\d+$/);
      } else {
        assert.equal((await docker.listServices({ filters: { label } }).catch(() => [])).length, 0);
      }
      const status = await labctl(['status', '--class', CLASS]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(
        status.stdout,
        new RegExp(`${CLASS} +smtp-pop-imap +2 +127\\.0\\.0\\.1 +\\S+ +running +running +ok +ok +ok +ok +ok`),
      );
    });

    it("takes the TD's SMTP session, and util12 reads the spool over ssh", async () => {
      const id = await sendMail(
        2,
        'president@u-picardie.fr',
        ['util12', `util2@${domain(2)}`],
        ['Subject: test', '', 'test envoie president', ''],
      );
      const spool = await spoolOverSsh(2, 'util12', id);
      assert.match(spool, /^From president@u-picardie\.fr /);
      assert.match(spool, /test envoie president/);
    });

    it('reads it back with POP3 RETR and IMAP FETCH as the TD types them', async () => {
      const pop = await Session.open(port(2, 'pop3'));
      assert.match((await pop.read(/^\+OK|^-ERR/))[0]!, /^\+OK/);
      await pop.say('USER util12', /^\+OK/);
      assert.match(await pop.say(`PASS ${PASSWORD}`, /^\+OK|^-ERR/), /^\+OK/);
      const retr = await pop.send('RETR 1', /^\.$/);
      assert.ok(retr.includes('test envoie president'), retr.join('\n'));
      await pop.say('QUIT', /^\+OK/);
      pop.close();
      const imap = await Session.open(port(2, 'imap'));
      assert.match((await imap.read(/^\* OK/))[0]!, /Courier-IMAP ready/);
      assert.equal(await imap.say(`1234 LOGIN util12 ${PASSWORD}`, /^1234 /), '1234 OK LOGIN Ok.');
      const select = await imap.send('1234 select INBOX', /^1234 /);
      assert.ok(select.includes('* 1 EXISTS'), select.join('\n'));
      const text = await imap.send('1234 FETCH 1 BODY[TEXT]', /^1234 /);
      assert.ok(text.includes('test envoie president'), text.join('\n'));
      await imap.send('1234 LOGOUT', /^1234 /);
      imap.close();
      assert.match((await labctl(['info', '--class', CLASS, '--student', '2'])).stdout, /telnet 127\.0\.0\.1 \d+/);
    });

    it('isolates the students: no route between their networks, no mail between their servers', async () => {
      const s2 = await docker.getContainer(await mail(2)).inspect();
      const ip2 = s2.NetworkSettings.Networks[`labctl-${CLASS}-s02`]!.IPAddress;
      assert.match(ip2, /^\d+\.\d+\.\d+\.\d+$/);
      const probe = await exec(await mail(1), [
        'bash',
        '-c',
        `timeout 3 bash -c '</dev/tcp/${ip2}/25' 2>/dev/null && echo reached || echo blocked`,
      ]);
      assert.equal(probe.output.trim(), 'blocked');
      const s = await Session.open(port(1, 'smtp'));
      await s.read(SMTP_FINAL);
      await s.say('helo pv', SMTP_FINAL);
      await s.say('mail from: util1', SMTP_FINAL);
      assert.match(await s.say(`rcpt to: util2@${domain(2)}`, SMTP_FINAL), /^550 5\.7\.1 /);
      s.close();
    });

    it("check credits student 2's POP and IMAP work, and student 1 nothing of it", async () => {
      const board = await waitForCredits(CLASS, 2, ['pop-login', 'pop-retr', 'imap-login', 'imap-fetch']);
      const one = board.students.find((x) => x.student === 1)!;
      assert.ok(!one.exercises.some((e) => e.done && e.id.startsWith('pop')), JSON.stringify(one.exercises));
    });

    it("logs shows the student's Postfix and Courier lines", async () => {
      const logs = await labctl(['logs', '--class', CLASS, '--student', '2']);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /postfix\/smtpd\[\d+\]: connect from/);
      assert.match(logs.stdout, /imapd: LOGIN, user=util12/);
      // --follow shows what comes next, and ends cleanly (nothing left running) when stopped.
      const child = spawn(process.execPath, [BIN, 'logs', '--class', CLASS, '--student', '2', '--follow']);
      let followed = '';
      child.stdout.on('data', (c: Buffer) => (followed += c.toString()));
      await sleep(3000);
      const id = await sendMail(2, 'util2', ['util2'], ['Subject: suivi', '', 'suivi', '']);
      for (let i = 0; i < 50 && !followed.includes(`${id}: removed`); i++) await sleep(200);
      child.kill('SIGINT');
      const code = await new Promise((r) => child.on('close', r));
      assert.equal(code, 0);
      assert.ok(followed.includes(`${id}: removed`), followed.slice(-500));
      const jobs = engine === 'swarm' ? await docker.listServices({ filters: { label: ['dev.labctl.job'] } }) : [];
      assert.equal(jobs.length, 0);
      const none = await labctl(['logs', '--class', CLASS, '--student', '9']);
      assert.equal(none.code, 2);
    });

    if (engine === 'swarm') {
      it("survives a killed task: Swarm starts another, and the student's mailbox is intact", async () => {
        const before = await mail(2);
        await docker.getContainer(before).kill();
        let after = '';
        for (let i = 0; i < 120 && !after; i++) {
          await sleep(500);
          after = await mail(2).catch(() => '');
          if (after === before) after = '';
        }
        assert.ok(after, 'no new task container');
        let list: string[] = [];
        for (let i = 0; i < 60; i++) {
          list = await popList(2, 'util12').catch(() => []);
          if (list.length > 0) break;
          await sleep(500);
        }
        assert.deepEqual(
          list.filter((l) => /^\d+ \d+$/.test(l)).map((l) => l.split(' ')[0]),
          ['1'],
          list.join('\n'),
        );
      });

      it('refuses to run a class that is on Swarm on the local engine, and places no student where no node fits', async () => {
        const local = await labctl([...upArgs(CLASS, 2, base), '--engine', 'local']);
        assert.equal(local.code, 2);
        assert.match(local.stderr, new RegExp(`Class ${CLASS} runs on Swarm`));
        const other = `${CLASS}n`;
        const nowhere = await labctl([
          ...upArgs(other, 1, await freeBasePort(1)),
          '--engine',
          'swarm',
          '--constraint',
          'node.labels.room==nowhere',
        ]);
        assert.equal(nowhere.code, 2, nowhere.stderr);
        assert.match(nowhere.stderr, /No Swarm node can take a student under node\.labels\.room==nowhere/);
        await cleanSwarmClass(other);
        const bad = await labctl([...upArgs(other, 1, base), '--engine', 'swarm', '--constraint', 'room=b12']);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /is not a placement constraint/);
      });

      it('doctor shows the swarm, and its node with the room on its docker_gwbridge', async () => {
        const checks = await labctlJson<{ check: string; ok: boolean; detail: string }[]>(['doctor']);
        const swarm = checks.find((c) => c.check === 'swarm');
        assert.ok(swarm?.ok);
        assert.match(swarm.detail, /^manager of \d+ node\(s\), \d+ ready and active: /);
        const node = checks.find((c) => c.check.startsWith('node '));
        assert.match(
          node?.detail ?? '',
          /^manager, ready, active, \S+; labctl's images: mail, sidecar as on the manager; .* free in \S+; docker_gwbridge \d+\.\d+\.\d+\.\d+\/\d+: \d+ of \d+ addresses used, room for \d+ more students$/,
        );
      });

      it('status of every class shows the Swarm class and a class on containers side by side', async () => {
        const other = `${CLASS}l`;
        await cleanSwarmClass(other);
        try {
          const local = await labctl([...upArgs(other, 1, await freeBasePort(1)), '--engine', 'local']);
          assert.equal(local.code, 0, local.stderr);
          const rows = await labctlJson<{ class: string; student: number; containers: Record<string, string> }[]>([
            'status',
          ]);
          const mine = rows.filter((r) => r.class === CLASS || r.class === other);
          assert.deepEqual(
            mine.map((r) => `${r.class}/${r.student} ${r.containers.mail} ${r.containers.sidecar}`).sort(),
            [`${CLASS}/1 running running`, `${CLASS}/2 running running`, `${other}/1 running running`],
          );
          // Swarm's task containers are not listed as the local class's (or anyone's) containers.
          assert.ok(rows.every((r) => Object.keys(r.containers).every((k) => k === 'mail' || k === 'sidecar')));
          // A class on containers does not move to Swarm.
          const moved = await labctl([...upArgs(other, 1, await freeBasePort(1)), '--engine', 'swarm']);
          assert.notEqual(moved.code, 0);
          assert.match(moved.stderr, /runs on the local engine/);
        } finally {
          await labctl(['down', '--class', other, '--purge', '--yes']);
          await cleanSwarmClass(other);
        }
      });
    }

    it("reset empties a student's mailbox and the server still answers", async () => {
      const reset = await labctl([
        'reset',
        '--class',
        CLASS,
        '--student',
        '2',
        '--user',
        'util12',
        '--backup',
        '--yes',
      ]);
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(reset.stdout, /student 2 +util12 +removed 1 from the spool/);
      // The backup holds the message, in the same layout whichever engine ran the reset.
      const backup = /Backups: (\S+\.tar)/.exec(reset.stdout)![1]!;
      assert.ok(backup.startsWith(dataDir), backup);
      const files = (await run('tar', ['-tf', backup])).stdout.split('\n').filter((l) => l && !l.endsWith('/'));
      assert.deepEqual(files.sort(), ['backup/util12/home.tar', 'backup/util12/spool']);
      const spool = await run('tar', ['-xOf', backup, 'backup/util12/spool']);
      assert.match(spool.stdout, /test envoie president/);
      const maildir = await run('sh', [
        '-c',
        'tar -xOf "$0" backup/util12/home.tar | tar -xOf - --wildcards "Maildir/*"',
        backup,
      ]);
      assert.match(maildir.stdout, /test envoie president/);
      const list = await popList(2, 'util12');
      assert.match(list[0]!, /^\+OK/);
      assert.equal(list.filter((l) => /^\d+ \d+$/.test(l)).length, 0, list.join('\n'));
    });

    it('down --purge removes the services or containers, networks and volumes, and leaves the engine as it was', async () => {
      const down = await labctl(['down', '--class', CLASS, '--purge', '--yes']);
      assert.equal(down.code, 0, down.stderr);
      // Seven volumes a student; on this host each student's disk too (Swarm's nodes have none).
      const disks = engine === 'local' ? 2 : 0;
      assert.match(down.stdout, new RegExp(`Removed 4 containers and 2 networks, 14 volumes and ${disks} disks`));
      const label = [`dev.labctl.class=${CLASS}`];
      assert.equal((await docker.listContainers({ all: true, filters: { label } })).length, 0);
      assert.equal((await docker.listNetworks({ filters: { label } })).length, 0);
      assert.equal((await docker.listVolumes({ filters: { label } })).Volumes?.length ?? 0, 0);
      if (engine === 'swarm') {
        assert.equal((await docker.listServices({ filters: { label } })).length, 0);
        const swarm = (await docker.info()) as { Swarm: { LocalNodeState: string } };
        assert.equal(swarm.Swarm.LocalNodeState, 'active');
      }
      const again = await labctl(['down', '--class', CLASS]);
      assert.match(again.stdout, /Nothing to remove/);
    });
  });
}
