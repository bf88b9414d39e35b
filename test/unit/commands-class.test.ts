import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { check } from '../../src/commands/check.js';
import { classBoard, type Board } from '../../src/core/board-model.js';
import { boardPage, boardView } from '../../src/ui/board-page.js';
import { down } from '../../src/commands/down.js';
import { handout } from '../../src/commands/handout.js';
import { info } from '../../src/commands/info.js';
import { rosterImport, rosterShow } from '../../src/commands/roster.js';
import { status, type StudentStatus } from '../../src/commands/status.js';
import { up } from '../../src/commands/up.js';
import { imageContexts } from '../../src/core/images.js';
import { loadLab } from '../../src/core/lab.js';
import { ExitCode } from '../../src/errors.js';
import { BASE, fails, fakeClass, ports, testContext } from '../helpers/fake-class.js';
import { greetAs } from '../helpers/greeters.js';
import { FakeEngine } from '../helpers/fake-engine.js';

/**
 * The class commands through their Context: the fake engine holds a class as `up` makes it, the reporter keeps
 * what would be printed. Each test says what the user sees, the exit code, and what was asked of the engine.
 */
describe('commands on a class, through their context', () => {
  let engine: FakeEngine;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-commands-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    engine = new FakeEngine();
    await fakeClass(engine, { className: 'cc', students: 2 });
  });

  it('info prints a French card per student, with the telnet command, and changes nothing', async () => {
    const t = testContext(engine);
    const result = await info({ className: 'cc' }, t.ctx);
    assert.equal(result.students.length, 2);
    assert.match(t.stdout(), new RegExp(`telnet 192\\.0\\.2\\.10 ${BASE + 125}`));
    assert.match(t.stdout(), /util2 \/ util12|util2.*util12/);
    assert.deepEqual(engine.calls, []);
    assert.deepEqual(engine.asked, ['ping', 'list']);
  });

  it('info --output writes the cards for their owner only; --json goes with text cards only', async () => {
    const file = path.join(dir, 'cards.html');
    await writeFile(file, 'old', { mode: 0o644 });
    const t = testContext(engine);
    await info({ className: 'cc', format: 'html', output: file }, t.ctx);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(await readFile(file, 'utf8'), /<html/i);
    assert.match(t.stdout(), /Wrote 2 card\(s\) to /);
    await fails(info({ className: 'cc', format: 'md', json: true }, testContext(engine).ctx), 2, /two different/);
  });

  it('info names a class or a student that is not there (exit 2)', async () => {
    await fails(info({ className: 'nope' }, testContext(engine).ctx), ExitCode.usage, /No class named nope/);
    await fails(info({ className: 'cc', student: 3 }, testContext(engine).ctx), 2, /has no student 3/);
  });

  it('handout writes each student their exercises, ports filled in; a PDF wants a file', async () => {
    const t = testContext(engine);
    await handout({ className: 'cc', student: 2 }, t.ctx);
    assert.match(t.stdout(), new RegExp(String(BASE + 225)));
    assert.doesNotMatch(t.stdout(), new RegExp(String(BASE + 125)));
    await fails(handout({ className: 'cc', format: 'pdf' }, testContext(engine).ctx), 2, /--output FILE\.pdf/);
  });

  it('status shows each workload state and each service that does not answer, and the class lab', async () => {
    engine.containers.get('labctl-cc-s02-sidecar')!.state = 'exited';
    const closers = [await greetAs(1, ports(1))];
    try {
      const t = testContext(engine, { json: true });
      // Student 2 has no server that answers: the rows are printed, then status says who and why, exit 6.
      await fails(
        status({ className: 'cc' }, t.ctx),
        ExitCode.notReady,
        /^Not every student has a server that answers:\n {2}student 2 of class cc: sidecar exited; smtp, pop3, imap, ssh, web do not answer$/,
      );
      const rows = JSON.parse(t.stdout()) as StudentStatus[];
      assert.deepEqual(
        rows.map((r) => [r.student, r.lab, r.containers.mail, r.containers.sidecar, r.services.smtp, r.state]),
        [
          [1, 'smtp-pop-imap', 'running', 'running', true, 'up'],
          [2, 'smtp-pop-imap', 'running', 'exited', false, 'down'],
        ],
      );
      const text = testContext(engine);
      await fails(status({}, text.ctx), ExitCode.notReady, /student 2 of class cc: sidecar exited/);
      assert.match(text.stdout(), /^cc +smtp-pop-imap +2 +127\.0\.0\.1 +running +exited +DOWN/m);
      assert.match(text.stdout(), /^cc +smtp-pop-imap +1 +127\.0\.0\.1 +running +running +ok +ok +ok +ok +ok .*up$/m);
      // Student 2 back: status exits 0.
      engine.containers.get('labctl-cc-s02-sidecar')!.state = 'running';
      closers.push(await greetAs(2, ports(2)));
      const back = await status({ className: 'cc' }, testContext(engine).ctx);
      assert.deepEqual(
        back.map((r) => r.state),
        ['up', 'up'],
      );
    } finally {
      await Promise.all(closers.map((close) => close()));
    }
  });

  it('status reads what listens from each sidecar and greets nothing; a port not listening is greeted, --greet greets all', async () => {
    const listening = (state: Record<string, string> = {}, waits: Record<string, number> = {}) => ({
      listeners: Object.fromEntries(
        Object.entries({ smtp: 25, pop3: 110, imap: 143, ssh: 22 }).map(([service, port]) => [
          service,
          {
            port,
            state: state[service] ?? 'listening',
            waiting: state[service] === 'stuck' ? 4 : (waits[service] ?? 0),
          },
        ]),
      ),
    });
    // Student 1: every port listening. Student 2: pop3 closed, and no server behind it; imap stuck, but it greets;
    // smtp listening with connections waiting to be taken (a daemon under load), greeted to be sure.
    const { pop3: _, ...noPop3 } = ports(2);
    const one = await greetAs(1, ports(1), undefined, listening());
    const two = await greetAs(2, noPop3, undefined, listening({ pop3: 'closed', imap: 'stuck' }, { smtp: 2 }));
    try {
      const t = testContext(engine, { json: true });
      await fails(
        status({ className: 'cc' }, t.ctx),
        ExitCode.notReady,
        /^Not every student has a server that answers:\n {2}student 2 of class cc: pop3 \(nothing listens\) does not answer$/,
      );
      const rows = JSON.parse(t.stdout()) as StudentStatus[];
      assert.deepEqual(
        rows.map((r) => [r.student, r.seen, r.state, r.services]),
        [
          [1, 'listeners', 'up', { smtp: true, pop3: true, imap: true, ssh: true, web: true }],
          [2, 'listeners', 'down', { smtp: true, pop3: false, imap: true, ssh: true, web: true }],
        ],
      );
      assert.deepEqual(rows[1]!.why, { pop3: 'nothing listens' });
      // Nothing was asked of student 1's daemons; of student 2's, smtp and imap, whose kernel showed them busy.
      assert.deepEqual(one.greeted, {});
      assert.deepEqual(two.greeted, { smtp: 1, imap: 1 });
      // --greet: every service greeted, whatever the sidecars say.
      await fails(status({ className: 'cc', greet: true }, testContext(engine).ctx), ExitCode.notReady, /pop3 does/);
      assert.deepEqual(one.greeted, { smtp: 1, pop3: 1, imap: 1, ssh: 1 });
    } finally {
      await Promise.all([one(), two()]);
    }
  });

  it('status and check name the node that is down and its students, and exit 6: they have no server', async () => {
    for (const n of [1, 2])
      for (const role of ['mail', 'sidecar']) {
        const c = engine.containers.get(`labctl-cc-s0${n}-${role}`)!;
        c.nodeName = `node${n}`;
        if (n === 2) Object.assign(c, { nodeLost: 'down', state: 'lost' });
      }
    const t = testContext(engine);
    await fails(
      status({ className: 'cc' }, t.ctx),
      ExitCode.notReady,
      /^node node2 is down: student 2 has no server\.$/,
    );
    assert.match(t.stdout(), /^class +lab +student +address +node +mail +sidecar /m);
    assert.match(t.stdout(), /^cc +smtp-pop-imap +1 +127\.0\.0\.1 +node1 +running +running /m);
    assert.match(t.stdout(), /^cc +smtp-pop-imap +2 +127\.0\.0\.1 +node2 \(down\) +lost +lost +DOWN .* DOWN$/m);
    const board = testContext(engine, { json: true });
    await fails(
      check({ className: 'cc' }, board.ctx),
      ExitCode.notReady,
      /^node node2 is down: student 2 has no server\.$/,
    );
    const two = (JSON.parse(board.stdout()) as { students: { student: number; error?: string }[] }).students[1]!;
    assert.deepEqual([two.student, two.error], [2, 'node node2 is down: no server']);
    // The board names each student's node, up or down: in check's table, and on the board's page.
    const text = testContext(engine);
    await fails(check({ className: 'cc' }, text.ctx), ExitCode.notReady, /node node2 is down/);
    assert.match(text.stdout(), /^student +node +1 +2 /m);
    assert.match(text.stdout(), /^1 +node1 +· /m);
    assert.match(text.stdout(), /^2 +node2 +· .*node node2 is down: no server$/m);
    const page = boardPage(boardView(await classBoard('cc', engine)), '/events');
    assert.match(page, /<th>1 <span class="node">on node1<\/span><\/th>/);
    assert.match(page, /<th>2 <span class="node">on node2<\/span><\/th>/);
  });

  it('status of every class: each class with its lab, the services in the labs\' order, "-" where a lab has none', async () => {
    await fakeClass(engine, { className: 'tl', students: 1, lab: 'smtp-tls', basePort: BASE + 1000 });
    const asked = testContext(engine, { json: true });
    // Nothing answers on the fake engine: every student is down (exit 6); the rows say what was asked.
    await fails(status({}, asked.ctx), ExitCode.notReady, /^Not every student has a server that answers:/);
    const rows = JSON.parse(asked.stdout()) as StudentStatus[];
    const t = testContext(engine);
    await fails(status({}, t.ctx), ExitCode.notReady, /student 1 of class tl: smtp, submission, smtps/);
    assert.deepEqual(
      rows.map((r) => [r.class, r.lab, Object.keys(r.services).join(' ')]),
      [
        ['cc', 'smtp-pop-imap', 'smtp pop3 imap ssh web'],
        ['cc', 'smtp-pop-imap', 'smtp pop3 imap ssh web'],
        ['tl', 'smtp-tls', 'smtp submission smtps imaps pop3s ssh web'],
      ],
    );
    const [header, ...lines] = t.stdout().trimEnd().split('\n');
    assert.match(
      header!,
      /^class +lab +student +address +mail +sidecar +smtp +pop3 +imap +ssh +submission +smtps +imaps +pop3s +web +disk +state$/,
    );
    assert.match(
      lines[2]!,
      /^tl +smtp-tls +1 +[\d.]+ +running +running +DOWN +- +- +DOWN +DOWN +DOWN +DOWN +DOWN +DOWN +- +DOWN$/,
    );
  });

  it('check marks a student whose sidecar is down, the others still show, and it exits 6 (no-sidecar)', async () => {
    engine.containers.get('labctl-cc-s02-sidecar')!.state = 'exited';
    const closers = [await greetAs(1, ports(1))];
    try {
      const t = testContext(engine, { json: true });
      const error = await fails(
        check({ className: 'cc' }, t.ctx),
        ExitCode.notReady,
        /^student 2's progress: sidecar exited\.$/,
      );
      assert.equal(error.code, 'no-sidecar');
      const board = JSON.parse(t.stdout()) as Board;
      assert.equal(board.students[1]!.error, 'sidecar exited');
      assert.equal(board.students[0]!.error, undefined, 'student 1 answers');
      assert.equal(board.students[0]!.exercises.length, 12);
      // A grading sheet is still written whole; the exit says a row is not to be trusted.
      const sheet = testContext(engine);
      await fails(check({ className: 'cc', format: 'csv' }, sheet.ctx), ExitCode.notReady, /student 2's progress/);
      assert.match(sheet.stdout(), /^2,.*sidecar exited/m);
      engine.containers.get('labctl-cc-s02-sidecar')!.state = 'running';
      closers.push(await greetAs(2, ports(2)));
      assert.equal((await check({ className: 'cc' }, testContext(engine).ctx)).students.length, 2);
    } finally {
      await Promise.all(closers.map((close) => close()));
    }
    await fails(check({ className: 'cc', format: 'moodle' }, testContext(engine).ctx), ExitCode.usage, /no roster/);
  });

  it('check names a student whose mail server is not running, after the board (exit 6, no-server)', async () => {
    engine.containers.get('labctl-cc-s02-mail')!.state = 'exited';
    const closers = await Promise.all([1, 2].map((n) => greetAs(n, ports(n))));
    try {
      const t = testContext(engine);
      await fails(check({ className: 'cc' }, t.ctx), ExitCode.notReady, /^student 2 has no server: mail exited\.$/);
      // Their progress is still shown: the sidecar answered.
      assert.match(t.stdout(), /^2 .* 1\/12 .*no server: mail exited$/m);
      assert.doesNotMatch(t.stdout(), /^1 .*no server/m);
      engine.containers.get('labctl-cc-s02-mail')!.state = 'running';
      const board = await check({ className: 'cc' }, testContext(engine).ctx);
      assert.deepEqual(
        board.students.map((s) => s.noServer),
        [undefined, undefined],
      );
    } finally {
      await Promise.all(closers.map((close) => close()));
    }
  });

  it('check --watch redraws until Ctrl-C, which ends it with 130', async () => {
    const t = testContext(engine);
    const watching = check({ className: 'cc', watch: true }, t.ctx);
    while (!t.stdout().includes('updated')) await new Promise((r) => setTimeout(r, 10));
    t.interrupt();
    await fails(watching, ExitCode.interrupted, /Interrupted/);
  });

  it('roster import keeps the list with the class; show prints it; a list too big for the class is refused', async () => {
    const file = path.join(dir, 'liste.csv');
    await writeFile(file, 'nom;courriel;numéro\nZoé Martin;zoe@u.fr;1\nLéo Petit;leo@u.fr;2\n');
    const t = testContext(engine);
    await rosterImport({ className: 'cc', file }, t.ctx);
    assert.match(t.stdout(), /Imported 2 people into class cc\./);
    const shown = testContext(engine);
    await rosterShow({ className: 'cc' }, shown.ctx);
    assert.match(shown.stdout(), /Zoé Martin/);
    await writeFile(file, 'nom,email,numero\nA,a@u.fr,1\nB,b@u.fr,2\nC,c@u.fr,3\n');
    await fails(rosterImport({ className: 'cc', file }, testContext(engine).ctx), ExitCode.conflict, /seat 3/);
  });

  it('down keeps the mailboxes; down --purge asks, off a terminal wants --yes, then removes the disks too', async () => {
    const refused = testContext(engine);
    await fails(down({ className: 'cc', purge: true }, refused.ctx), 2, /not a terminal to confirm on/);
    assert.deepEqual(engine.calls, [], 'nothing removed');
    const asked: string[] = [];
    const no = testContext(engine, {
      interactive: true,
      prompt: (q) => (asked.push(q[0]!.message), Promise.resolve({ ok: false })),
    });
    await fails(down({ className: 'cc', purge: true }, no.ctx), 2, /Cancelled; nothing was removed/);
    assert.match(asked[0]!, /Delete the mailboxes and logs of class cc \(14 volumes\)\?/);
    const t = testContext(engine);
    await down({ className: 'cc', student: 2 }, t.ctx);
    assert.match(
      t.stdout(),
      /Removed 2 containers and 1 networks of student 2 of class cc\. Mailboxes kept \(7 volumes\)/,
    );
    const purge = testContext(engine);
    await down({ className: 'cc', purge: true, yes: true }, purge.ctx);
    assert.match(purge.stdout(), /Removed 2 containers and 1 networks, 14 volumes and 2 disks of class cc\./);
    assert.equal(engine.disks.size + engine.volumes.size + engine.containers.size, 0);
  });

  it('down --purge reports only what it removed: a volume that stays is named (exit 4), a node not asked too (exit 6)', async () => {
    const stuck = [...engine.volumes.keys()].find((v) => v.includes('-s02-'))!;
    engine.failOn = (call) => call === `remove-volume ${stuck}`;
    const t = testContext(engine);
    await fails(
      down({ className: 'cc', purge: true, yes: true }, t.ctx),
      ExitCode.engine,
      new RegExp(
        `Not everything was purged:\\n  ${stuck} stays: fake engine: remove-volume ${stuck} failed\\n  labctl-cc-s02-disk stays: ${stuck} stays on it`,
      ),
    );
    assert.match(t.stdout(), /Removed 4 containers and 2 networks, 13 volumes and 1 disks of class cc\./);
    assert.deepEqual([...engine.volumes.keys()], [stuck]);
    engine.failOn = () => false;
    engine.nodeList = [
      { id: 'n1', name: 'accnode-1', state: 'ready', availability: 'active', students: 0 },
      { id: 'n2', name: 'accnode-2', state: 'down', availability: 'active', students: 1 },
    ];
    const again = testContext(engine);
    await fails(
      down({ className: 'cc', purge: true, yes: true }, again.ctx),
      ExitCode.notReady,
      /Not everything was purged:\n {2}node accnode-2 could not be asked for its volumes \(it is down\)$/,
    );
    assert.match(again.stdout(), /Removed 0 containers and 0 networks, 1 volumes and 1 disks of class cc\./);
    await fails(down({ className: 'cc', purge: true, yes: true }, testContext(engine).ctx), 6, /accnode-2/);
    engine.nodeList = undefined;
    const done = testContext(engine);
    await down({ className: 'cc', purge: true, yes: true }, done.ctx);
    assert.match(done.stdout(), /Nothing to remove: no labctl objects for class cc\./);
  });

  it('up --dry-run prints the plan against what runs, and changes nothing', async () => {
    const t = testContext(engine);
    const images = await imageContexts(await loadLab());
    await up({ className: 'cc', students: 3, host: '192.0.2.10', basePort: BASE, dryRun: true, lab: undefined }, t.ctx);
    assert.match(t.stdout(), /Class cc: \d+ changes for 1 student\./);
    assert.match(t.stdout(), /create mail labctl-cc-s03-mail/);
    assert.match(t.stdout(), /Nothing was changed \(--dry-run\)/);
    assert.deepEqual(engine.calls, []);
    assert.ok(!engine.images.has(images.mail.tag), 'no image built');
  });
});

describe('up through its context', () => {
  it('a student who never answers fails the run (exit 6), which undoes everything it made', async () => {
    const engine = new FakeEngine();
    const t = testContext(engine);
    await fails(
      up({ className: 'cu', students: 1, host: '192.0.2.10', basePort: BASE, timeout: 1 }, t.ctx),
      ExitCode.notReady,
      /Student 1's mail server did not get ready/,
    );
    assert.deepEqual(
      [engine.containers.size, engine.networks.size, engine.volumes.size, engine.disks.size],
      [0, 0, 0, 0],
    );
    assert.equal(engine.locks.size, 0, 'the lock is given back');
    assert.ok(engine.calls.includes('create-disk labctl-cu-s01-disk'));
  });

  it('Ctrl-C while students start undoes the run and exits 130; the lock is given back', async () => {
    const engine = new FakeEngine();
    const t = testContext(engine);
    const run = up({ className: 'cu', students: 2, host: '192.0.2.10', basePort: BASE, timeout: 30 }, t.ctx);
    while (!engine.calls.some((c) => c.startsWith('start '))) await new Promise((r) => setTimeout(r, 5));
    t.interrupt();
    await fails(run, ExitCode.interrupted, /what this run changed was undone; class cu is as it was before/);
    assert.match(t.stderr(), /Interrupted: stopping, then undoing what this run changed/);
    assert.deepEqual([engine.containers.size, engine.networks.size, engine.volumes.size], [0, 0, 0]);
    assert.equal(engine.locks.size, 0);
  });

  it('waits for another up of the class, and Ctrl-C stops the wait', async () => {
    const engine = new FakeEngine();
    await engine.acquireLock('labctl-cu-lock', { 'dev.labctl.lock-pid': '1', 'dev.labctl.lock-host': 'elsewhere' });
    const t = testContext(engine);
    const run = up({ className: 'cu', students: 1, host: '192.0.2.10', basePort: BASE }, t.ctx);
    while (!t.stderr().includes('waiting for it')) await new Promise((r) => setTimeout(r, 5));
    t.interrupt();
    await fails(run, ExitCode.interrupted, /Interrupted/);
    assert.equal(engine.containers.size, 0);
  });
});
