/**
 * `labctl move` on a real three-node swarm (test/helpers/swarm-nodes.ts), as an instructor drains a node: a student's
 * mail, credit and ssh host key go with them, and nothing of theirs stays on the old node. Run by
 * `npm run test:multinode`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import type { Board } from '../../src/core/board-model.js';
import type { ClassInfo } from '../../src/core/class-model.js';
import type { StudentStatus } from '../../src/core/class-status.js';
import { labctl, labctlCtrlC, labctlJson } from '../helpers/cli.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshExec, sshSession } from '../helpers/ssh.js';
import { classBoard, doneIds } from '../helpers/td.js';
import {
  nodeState,
  startTestSwarm,
  testSwarmUnavailable,
  type TestNode,
  type TestSwarm,
} from '../helpers/swarm-nodes.js';

const skip = testSwarmUnavailable();
const PASSWORD = 'master2021';

describe('labctl move: a student carried to another node with everything', { timeout: 1_800_000, skip }, () => {
  let swarm: TestSwarm;
  let dir = '';
  let info: ClassInfo;
  let base = 0;
  const CLASS = `mv${process.pid}`;
  const on = (args: string[]) => labctl(args, undefined, swarm.env);
  const student = (n: number) => info.students.find((s) => s.student === n)!;
  const nodeOf = async (n: number): Promise<string> => {
    const rows = await labctlJson<StudentStatus[]>(['status', '--class', CLASS], swarm.env);
    return rows.find((r) => r.student === n)!.node!;
  };
  const node = (name: string): TestNode => swarm.nodes.find((x) => x.name === name)!;
  const hostOf = (name: string) => node(name).address;

  /** util{n}'s mailbox over POP3 on their node, as they read it: the LIST lines. */
  async function popList(n: number, host: string): Promise<string[]> {
    const s = await Session.open(student(n).ports.pop3!, host);
    try {
      await s.read(/^\+OK/);
      await s.say(`USER util${n}`, /^[+-]/);
      assert.match(await s.say(`PASS ${PASSWORD}`, /^[+-]/), /^\+OK/);
      const list = await s.send('LIST', /^\.$/);
      await s.say('QUIT', /^[+-]/);
      return list.filter((l) => /^\d+ \d+$/.test(l));
    } finally {
      s.close();
    }
  }
  const hostKey = (n: number, host: string) =>
    sshSession(student(n).ports.ssh!, `util${n}`, PASSWORD, async (_c, key) => key, host);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-move-'));
    const built = await labctlJson<{ mail: string }>(['build']);
    assert.ok(built.mail);
    swarm = await startTestSwarm(3);
    const archive = path.join(dir, 'images.tar');
    assert.equal((await labctl(['images', 'save', '-o', archive])).code, 0);
    for (const n of swarm.nodes) {
      const loaded = await labctl(['images', 'load', archive], undefined, n.env);
      assert.equal(loaded.code, 0, loaded.stderr);
    }
    base = await freeBasePort(2);
    const up = await on(['up', '--engine', 'swarm', '--students', '2', '--class', CLASS, '--base-port', String(base)]);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    info = JSON.parse((await on(['info', '--class', CLASS, '--json'])).stdout) as ClassInfo;
  });
  after(async () => {
    await swarm?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it('a node nobody has, or the node the student is on: refused, exit 2, and nothing moves', async () => {
    const from = await nodeOf(1);
    const unknown = await on(['move', '--class', CLASS, '--student', '1', '--to', 'nowhere']);
    assert.equal(unknown.code, 2, unknown.stdout + unknown.stderr);
    assert.match(unknown.stderr, /--to nowhere: no such node in the swarm\./);
    assert.match(unknown.stderr, new RegExp(`Its nodes: .*${swarm.nodes[0]!.name} \\(ready, active\\)`));
    const same = await on(['move', '--class', CLASS, '--student', '1', '--to', from]);
    assert.equal(same.code, 2, same.stdout + same.stderr);
    assert.match(same.stderr, new RegExp(`Student 1 is on node ${from} already\\.`));
    const json = await on(['move', '--class', CLASS, '--student', '1', '--to', 'nowhere', '--json']);
    assert.equal(JSON.parse(json.stdout).error.code, 'usage');
    assert.equal(await nodeOf(1), from);
    assert.deepEqual(
      (await classVolumes(node(from).docker, CLASS, 1)).length,
      7,
      'the student keeps their seven volumes where they were',
    );
  });

  it("student 1's mail, credit and ssh host key move with them, and nothing of theirs stays on the old node", async () => {
    const from = await nodeOf(1);
    const to = swarm.nodes.find((n) => n.name !== from && n.name !== student(2).host && n.address !== student(2).host)!;
    const s = await Session.open(student(1).ports.smtp!, hostOf(from));
    try {
      await s.read(SMTP_FINAL);
      await s.say('helo pv', SMTP_FINAL);
      await s.say('mail from: president@u-picardie.fr', SMTP_FINAL);
      await s.say('rcpt to: util1', SMTP_FINAL);
      await s.say('data', SMTP_FINAL);
      for (const line of ['Subject: avant le demenagement', '', 'bonjour', '']) s.type(line);
      assert.match(await s.say('.', SMTP_FINAL), /^250 2\.0\.0 Ok: queued as /);
      await s.say('quit', SMTP_FINAL);
    } finally {
      s.close();
    }
    let board: Board | undefined;
    for (let i = 0; i < 60 && !(board && doneIds(board, 1).includes('smtp-simple')); i++) {
      if (board) await new Promise((r) => setTimeout(r, 500));
      board = await classBoard(CLASS, ['--student', '1'], swarm.env);
    }
    assert.ok(board && doneIds(board, 1).includes('smtp-simple'), 'credited before the move');
    let before: string[] = [];
    for (let i = 0; i < 60 && before.length === 0; i++) before = await popList(1, hostOf(from));
    assert.equal(before.length, 1, 'the message is in the mailbox');
    const key = await hostKey(1, hostOf(from));

    const started = Date.now();
    const moved = await on(['move', '--class', CLASS, '--student', '1', '--to', to.name]);
    console.log(`# move of student 1 (one message): ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    assert.match(moved.stdout, new RegExp(`student 1: ${from} -> ${to.name}, [\\d.]+ MiB in [\\d.]+ s`));

    const status = await on(['status', '--class', CLASS]);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, new RegExp(`^${CLASS} .* 1 +${to.address} +${to.name} +running +running .* up$`, 'm'));
    const card = JSON.parse((await on(['info', '--class', CLASS, '--student', '1', '--json'])).stdout) as ClassInfo;
    assert.equal(card.students[0]!.host, to.address, "the card gives the new node's address");
    assert.deepEqual(await popList(1, to.address), before, 'POP3 lists the same message on the new node');
    const after = await classBoard(CLASS, ['--student', '1'], swarm.env);
    assert.ok(doneIds(after, 1).includes('smtp-simple'), JSON.stringify(doneIds(after, 1)));
    assert.equal(await hostKey(1, to.address), key, 'the same ssh host key');
    assert.deepEqual(await classVolumes(node(from).docker, CLASS, 1), [], 'nothing of student 1 stays on the old node');
    assert.equal((await classVolumes(to.docker, CLASS, 1)).length, 7);
  });

  it('student 2 with 50 MB of mail in their Maildir: moved, timed, every message still there', async () => {
    const from = await nodeOf(2);
    const to = swarm.nodes.find((n) => n.name !== from)!;
    const bulk = [
      'mkdir -p ~/Maildir/new ~/Maildir/cur ~/Maildir/tmp',
      'for i in 1 2 3 4 5; do { printf "Subject: gros %s\\n\\n" $i; head -c 7700000 /dev/urandom | base64; } > ~/Maildir/new/bulk$i.lab; done',
      'du -sb ~/Maildir | cut -f1',
    ].join(' && ');
    const written = await sshSession(
      student(2).ports.ssh!,
      'util2',
      PASSWORD,
      (conn) => sshExec(conn, bulk),
      hostOf(from),
    );
    assert.equal(written.code, 0, written.stderr);
    assert.ok(Number(written.stdout) > 50_000_000, written.stdout);
    const before = await popList(2, hostOf(from));
    assert.equal(before.length, 5);

    const started = Date.now();
    const moved = await on(['move', '--class', CLASS, '--student', '2', '--to', to.name, '--json']);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    const row = (JSON.parse(moved.stdout) as { students: { bytes: number; seconds: number }[] }).students[0]!;
    console.log(
      `# move of a student with ${(Number(written.stdout) / 1e6).toFixed(1)} MB of mail: ${seconds.toFixed(1)} s (labctl: ${row.seconds} s, ${(row.bytes / 1048576).toFixed(1)} MiB carried)`,
    );
    assert.ok(row.bytes > 50_000_000);
    assert.deepEqual(await popList(2, to.address), before, 'every message, the same sizes');
    assert.deepEqual(await classVolumes(node(from).docker, CLASS, 2), []);
  });

  it("a classmate who finds the copy's port and connects first gets nothing, and the move goes on", async () => {
    const from = await nodeOf(1);
    const other = await nodeOf(2);
    const to = swarm.nodes.find((n) => n.name !== from && n.name !== other)!;
    const before = await popList(1, hostOf(from));
    // The classmate watches the old node's ports for the copy's job (here through the manager, to find it at once),
    // and connects again and again, before labctl can, with a guess at the token; whatever comes back is counted.
    let got = 0;
    let tries = 0;
    let done = false;
    const classmate = (async () => {
      while (!done) {
        const jobs = await swarm.manager.docker.listServices({ filters: { name: [`labctl-${CLASS}-s01-mail-send-`] } });
        const tasks = jobs[0]
          ? ((await swarm.manager.docker.listTasks({ filters: { service: [jobs[0].ID!] } })) as {
              Status: { PortStatus?: { Ports?: { PublishedPort?: number }[] } };
            }[])
          : [];
        const port = tasks[0]?.Status.PortStatus?.Ports?.[0]?.PublishedPort;
        if (port) {
          tries++;
          got += await new Promise<number>((resolve) => {
            let bytes = 0;
            const socket = net.connect({ host: hostOf(from), port }, () => socket.write('0123456789abcdef\n'));
            socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
            socket.on('error', () => {});
            socket.on('close', () => resolve(bytes));
            setTimeout(() => socket.destroy(), 20_000);
          });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const moved = await on(['move', '--class', CLASS, '--student', '1', '--to', to.name]);
    done = true;
    await classmate;
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    assert.ok(tries > 0, 'the classmate found the port');
    assert.equal(got, 0, `the classmate connected ${tries} times, and got not one byte`);
    assert.deepEqual(await popList(1, to.address), before);
  });

  it('move --from drains a node: its students go to the other nodes, with their mail', async () => {
    const from = await nodeOf(2);
    const before = await popList(2, hostOf(from));
    const drained = await on(['move', '--class', CLASS, '--from', from, '--json']);
    assert.equal(drained.code, 0, drained.stdout + drained.stderr);
    const rows = (JSON.parse(drained.stdout) as { students: { student: number; from: string; to: string }[] }).students;
    assert.deepEqual(
      rows.map((r) => [r.student, r.from]),
      [[2, from]],
    );
    const now = await nodeOf(2);
    assert.notEqual(now, from);
    assert.equal(rows[0]!.to, now);
    assert.deepEqual(await popList(2, hostOf(now)), before);
    assert.deepEqual(await classVolumes(node(from).docker, CLASS, 2), []);
  });

  it('a copy that fails midway (the new node lacks the mail image) leaves the student where they were, running', async () => {
    const from = await nodeOf(1);
    const busy = [from, await nodeOf(2)];
    const to = swarm.nodes.find((n) => !busy.includes(n.name))!;
    const before = await popList(1, hostOf(from));
    const images = (await to.docker.listImages()).filter((i) => i.RepoTags?.some((t) => t.startsWith('labctl/mail:')));
    for (const i of images) await to.docker.getImage(i.Id).remove({ force: true });
    const failed = await on(['move', '--class', CLASS, '--student', '1', '--to', to.name]);
    assert.equal(failed.code, 4, failed.stdout + failed.stderr);
    assert.match(failed.stderr, /Student 1 was not moved: The copy's job on node .* (stopped|did not get ready)/);
    assert.equal(await nodeOf(1), from);
    const status = await on(['status', '--class', CLASS]);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, new RegExp(`^${CLASS} .* 1 +${hostOf(from)} +${from} +running +running .* up$`, 'm'));
    assert.deepEqual(await popList(1, hostOf(from)), before, 'the mailbox is intact');
    assert.equal((await classVolumes(node(from).docker, CLASS, 1)).length, 7);
  });

  it('a node that is down cannot take students: exit 4, node-unavailable', async () => {
    const from = await nodeOf(1);
    const down = swarm.nodes.find((n) => n.name !== from && n !== swarm.manager)!;
    await down.stop();
    const stopped = Date.now();
    while ((await nodeState(swarm.manager.docker, down.name)) !== 'down') {
      assert.ok(Date.now() - stopped < 120_000, 'the swarm sees the node down');
      await new Promise((r) => setTimeout(r, 1000));
    }
    const refused = await on(['move', '--class', CLASS, '--student', '1', '--to', down.name, '--json']);
    assert.equal(refused.code, 4, refused.stdout + refused.stderr);
    const error = (JSON.parse(refused.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'node-unavailable');
    assert.match(error.message, new RegExp(`Node ${down.name} is down: no student can move there\\.`));
    // status exits 6 now (the stopped node may hold student 2): the card says where student 1 is.
    const card = JSON.parse((await on(['info', '--class', CLASS, '--student', '1', '--json'])).stdout) as ClassInfo;
    assert.equal(card.students[0]!.host, hostOf(from));
  });
});

describe('a node gone for good: labctl snapshot, then up --replace-lost', { timeout: 1_800_000, skip }, () => {
  let swarm: TestSwarm;
  let dir = '';
  let info: ClassInfo;
  let base = 0;
  const CLASS = `sn${process.pid}`;
  const on = (args: string[]) => labctl(args, undefined, swarm.env);
  const upArgs = () => ['up', '--engine', 'swarm', '--students', '2', '--class', CLASS, '--base-port', String(base)];
  const nodeOf = async (n: number): Promise<string> => {
    const rows = await labctlJson<StudentStatus[]>(['status', '--class', CLASS], swarm.env);
    return rows.find((r) => r.student === n)!.node!;
  };
  const credits = async (n: number) => doneIds(await classBoard(CLASS, [], swarm.env), n);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-snapshot-'));
    assert.ok((await labctlJson<{ mail: string }>(['build'])).mail);
    swarm = await startTestSwarm(3);
    const archive = path.join(dir, 'images.tar');
    assert.equal((await labctl(['images', 'save', '-o', archive])).code, 0);
    for (const n of swarm.nodes) assert.equal((await labctl(['images', 'load', archive], undefined, n.env)).code, 0);
    base = await freeBasePort(2);
    const up = await on(upArgs());
    assert.equal(up.code, 0, up.stdout + up.stderr);
    info = JSON.parse((await on(['info', '--class', CLASS, '--json'])).stdout) as ClassInfo;
  });
  after(async () => {
    await swarm?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it('Ctrl-C during snapshot: the copies under way finish, the lock goes back at once, and everyone answers again', async () => {
    const locks = () =>
      swarm.manager.docker.listContainers({
        all: true,
        filters: { label: [`dev.labctl.class=${CLASS}`, 'dev.labctl.role=lock'] },
      });
    const jobs = () => swarm.manager.docker.listServices({ filters: { label: ['dev.labctl.job'] } });
    // Pressed once a copy has begun (its one-off services run on the student's node and on the manager).
    const r = await labctlCtrlC(
      ['snapshot', '--class', CLASS],
      async () => (await locks()).length > 0 && (await jobs()).length > 0,
      swarm.env,
    );
    assert.equal(r.code, 130, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /Interrupted: (student\(s\) [\d, ]+ were copied and started again|no student was copied); \d were not/,
    );
    assert.equal(r.stdout, '');
    assert.deepEqual(await locks(), [], 'the class lock is given back');
    assert.deepEqual(await jobs(), [], 'no copy job is left on the swarm');
    // The next command that takes the lock does not wait for it.
    const dry = await on([...upArgs(), '--dry-run']);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.doesNotMatch(dry.stderr, /waiting for it/);
    for (let i = 0; ; i++) {
      const status = await on(['status', '--class', CLASS]);
      if (status.code === 0) break;
      assert.ok(i < 60, `a student does not answer after the interrupted snapshot:\n${status.stdout}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    // The test below starts with no snapshot: the copies made here go.
    const snapshots = await swarm.manager.docker.listVolumes({
      filters: { label: [`dev.labctl.class=${CLASS}`, 'dev.labctl.role=snapshot'] },
    });
    for (const v of snapshots.Volumes ?? []) await swarm.manager.docker.getVolume(v.Name).remove();
  });

  it("student 1's snapshot brings back their mail and credit on another node; student 2, with none, starts empty", async () => {
    // Both students on one worker, which will be lost for good.
    const worker = swarm.nodes[1]!;
    for (const n of [1, 2])
      if ((await nodeOf(n)) !== worker.name) {
        const moved = await on(['move', '--class', CLASS, '--student', String(n), '--to', worker.name]);
        assert.equal(moved.code, 0, moved.stdout + moved.stderr);
      }
    for (const n of [1, 2]) {
      const s = await Session.open(info.students[n - 1]!.ports.smtp!, worker.address);
      try {
        await s.read(SMTP_FINAL);
        for (const line of ['helo pv', 'mail from: president@u-picardie.fr', `rcpt to: util${n}`, 'data'])
          await s.say(line, SMTP_FINAL);
        for (const line of [`Subject: avant la panne ${n}`, '', 'bonjour', '']) s.type(line);
        assert.match(await s.say('.', SMTP_FINAL), /^250 2\.0\.0 Ok: queued as /);
        await s.say('quit', SMTP_FINAL);
      } finally {
        s.close();
      }
    }
    for (let i = 0; i < 60 && !(await credits(1)).includes('smtp-simple'); i++)
      await new Promise((r) => setTimeout(r, 500));
    assert.ok((await credits(1)).includes('smtp-simple'), 'student 1 credited before the snapshot');

    const started = Date.now();
    const snap = await on(['snapshot', '--class', CLASS, '--student', '1']);
    console.log(`# snapshot of one student: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(snap.code, 0, snap.stdout + snap.stderr);
    assert.match(
      snap.stdout,
      new RegExp(
        `^Snapshot of 1 student\\(s\\) of class ${CLASS} on the manager in [\\d.]+ s:\\n  student 1: from ${worker.name}, [\\d.]+ MiB in [\\d.]+ s$`,
        'm',
      ),
    );
    const copies = await swarm.manager.docker.listVolumes({
      filters: { label: [`dev.labctl.class=${CLASS}`, 'dev.labctl.role=snapshot'] },
    });
    assert.equal(copies.Volumes?.length, 7, "student 1's seven volumes, on the manager");
    // The student answers again after their copy.
    const status = await on(['status', '--class', CLASS]);
    assert.equal(status.code, 0, status.stdout + status.stderr);

    await worker.destroy();
    for (const at = Date.now(); (await nodeState(swarm.manager.docker, worker.name)) !== 'down';) {
      assert.ok(Date.now() - at < 120_000, `the manager still sees ${worker.name} up`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const upAt = Date.now();
    const up = await on([...upArgs(), '--replace-lost']);
    console.log(`# up --replace-lost of two students: ${((Date.now() - upAt) / 1000).toFixed(1)} s`);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stderr, /Student 2 starts again on another node with empty mailboxes and no progress/);
    assert.match(up.stderr, /Student 1 starts again on another node with their volumes as of their snapshot of /);
    assert.match(
      up.stdout,
      new RegExp(`student 1: ${worker.name} \\(down\\) -> \\S+, mailboxes restored from their snapshot`),
    );
    assert.match(
      up.stdout,
      new RegExp(`student 2: ${worker.name} \\(down\\) -> \\S+, mailboxes empty \\(no snapshot\\)`),
    );

    const after = JSON.parse((await on(['info', '--class', CLASS, '--json'])).stdout) as ClassInfo;
    for (const s of after.students) assert.notEqual(s.host, worker.address, `student ${s.student} left the lost node`);
    const mailbox = async (n: number) => {
      const s = after.students[n - 1]!;
      const session = await Session.open(s.ports.pop3!, s.host);
      try {
        await session.read(/^\+OK/);
        await session.say(`USER util${n}`, /^[+-]/);
        assert.match(await session.say('PASS master2021', /^[+-]/), /^\+OK/);
        const list = await session.send('LIST', /^\.$/);
        await session.say('QUIT', /^[+-]/);
        return list.filter((l) => /^\d+ \d+$/.test(l)).length;
      } finally {
        session.close();
      }
    };
    assert.equal(await mailbox(1), 1, "student 1's message came back");
    assert.equal(await mailbox(2), 0, "student 2's message was lost with the node");
    assert.ok((await credits(1)).includes('smtp-simple'), "student 1's credit came back");
    assert.ok(!(await credits(2)).includes('smtp-simple'), 'student 2 starts with no credit');
  });
});

async function classVolumes(docker: Docker, className: string, student: number): Promise<string[]> {
  const list = await docker.listVolumes({
    filters: { label: [`dev.labctl.class=${className}`, `dev.labctl.student=${student}`] },
  });
  return (list.Volumes ?? []).map((v) => v.Name).sort();
}
