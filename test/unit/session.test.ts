import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { down } from '../../src/commands/down.js';
import { up } from '../../src/commands/up.js';
import { extendSession, noteArchived, settleSession, type Messenger } from '../../src/core/class-session.js';
import { classBoard } from '../../src/core/board-model.js';
import { clockText, parseDuration, parseUntil, saveSession, sessionOf, type Session } from '../../src/core/session.js';
import { ExitCode } from '../../src/errors.js';
import type { Result } from '../../src/sidecar/verifier.js';
import { ProgressStore } from '../../src/sidecar/progress.js';
import type { AddressInfo } from 'node:net';
import { renderPage } from '../../src/sidecar/page.js';
import { createServer } from '../../src/sidecar/server.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import { boardPage, boardView } from '../../src/ui/board-page.js';
import { fails, fakeClass, testContext } from '../helpers/fake-class.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { makeConfig } from '../helpers/sidecar-config.js';

const feedback = testContext(new FakeEngine()).ctx.reporter;
const signal = new AbortController().signal;

/** A messenger that records each student's end instead of telling their server and sidecar. */
function recorder(): Messenger & { ends: Map<number, number>; texts: Map<number, string> } {
  const ends = new Map<number, number>();
  const texts = new Map<number, string>();
  return {
    ends,
    texts,
    server: (_engine, s, end, text) => {
      ends.set(s.student, end);
      texts.set(s.student, text);
      return Promise.resolve();
    },
    sidecar: () => Promise.resolve(),
  };
}

describe('a time box as the instructor types it', () => {
  it('reads durations, and refuses what is not one with the forms to use', () => {
    assert.equal(parseDuration('2h', '--for'), 7_200_000);
    assert.equal(parseDuration('1h30m', '--for'), 5_400_000);
    assert.equal(parseDuration('90s', '--for'), 90_000);
    assert.equal(parseDuration('15min', '--by'), 900_000);
    assert.throws(() => parseDuration('two hours', '--for'), /--for "two hours" is not a duration/);
    assert.throws(() => parseDuration('0m', '--for'), /is not a duration/);
  });

  it('reads a time of day today in the class time zone, or a date and time', () => {
    const now = new Date('2026-12-02T12:00:00Z');
    assert.equal(
      new Date(parseUntil('16:00', '--until', now, 'Europe/Paris')).toISOString(),
      '2026-12-02T15:00:00.000Z',
    );
    assert.equal(new Date(parseUntil('9h30', '--until', now, 'UTC')).toISOString(), '2026-12-02T09:30:00.000Z');
    assert.equal(
      new Date(parseUntil('2026-12-03T08:15', '--until', now, 'Europe/Paris')).toISOString(),
      '2026-12-03T07:15:00.000Z',
    );
    assert.equal(clockText(Date.parse('2026-12-02T15:00:00Z'), 'Europe/Paris'), '16:00');
    assert.throws(() => parseUntil('25:00', '--until', now, 'UTC'), /--until "25:00" is not a time/);
  });

  it('up refuses a wrong time box before anything, --dry-run too', async () => {
    const engine = new FakeEngine();
    const t = testContext(engine);
    const dry = { className: 'tb', students: 1, host: '192.0.2.10', dryRun: true };
    await fails(up({ ...dry, for: '2hours' }, t.ctx), ExitCode.usage, /--for "2hours" is not a duration/);
    await fails(up({ ...dry, until: '25:00' }, t.ctx), ExitCode.usage, /--until "25:00" is not a time/);
    await fails(up({ ...dry, for: '1h', until: '16:00' }, t.ctx), ExitCode.usage, /give one of them/);
    assert.deepEqual(engine.calls, [], 'nothing asked of the engine');
  });
});

describe('the time box on a class, extend, and down --purge', () => {
  let engine: FakeEngine;
  let clock: Date;
  const now = () => clock;
  beforeEach(async () => {
    engine = new FakeEngine();
    await fakeClass(engine, { className: 'tb', students: 3 });
    clock = new Date('2026-12-02T14:00:00Z');
  });

  const session = async () => sessionOf('tb', (await engine.list('tb')).volumes)!;

  it('up --for sets the end once, from now, and gives every student theirs; a second up keeps it', async () => {
    const sent = recorder();
    const set = await settleSession(engine, 'tb', { for: '2h' }, feedback, now, sent);
    assert.equal(set?.end, '2026-12-02T16:00:00.000Z');
    assert.deepEqual([...sent.ends.keys()].sort(), [1, 2, 3]);
    assert.ok([...sent.ends.values()].every((e) => e === Date.parse('2026-12-02T16:00:00Z')));
    clock = new Date('2026-12-02T14:30:00Z');
    const again = await settleSession(engine, 'tb', { for: '3h' }, feedback, now, recorder());
    assert.equal(again?.end, '2026-12-02T16:00:00.000Z', 'the first time box is kept; extend moves it');
    await assert.rejects(
      settleSession(engine, 'tb2', { until: '13:00' }, feedback, now, recorder()),
      /already past|no class/i,
    );
  });

  it('extend --student gives one student extra time, and only their server and sidecar hear of it', async () => {
    await settleSession(engine, 'tb', { for: '2h' }, feedback, now, recorder());
    const sent = recorder();
    const one = await extendSession(engine, { className: 'tb', student: 2, by: '15m' }, feedback, signal, now, sent);
    assert.deepEqual([...sent.ends.entries()], [[2, Date.parse('2026-12-02T16:15:00Z')]]);
    assert.deepEqual(
      one.changed.map((c) => [c.student, c.after]),
      [[2, '2026-12-02T16:15:00.000Z']],
    );
    const all = recorder();
    await extendSession(engine, { className: 'tb', by: '10m' }, feedback, signal, now, all);
    assert.equal(all.ends.get(1), Date.parse('2026-12-02T16:10:00Z'));
    assert.equal(all.ends.get(2), Date.parse('2026-12-02T16:25:00Z'), 'extra time rides on the class end');
    assert.equal((await session()).extra['2'], 15 * 60_000);
    await fails(
      extendSession(engine, { className: 'tb', by: '10m', until: '17:00' }, feedback, signal, now, all),
      ExitCode.usage,
      /Give --by DURATION .* or --until TIME/,
    );
  });

  it('extend refuses a class with no time box, saying how to give one', async () => {
    await fails(
      extendSession(engine, { className: 'tb', by: '10m' }, feedback, signal, now, recorder()),
      ExitCode.usage,
      /has no time box to extend/,
    );
  });

  it('the board says the end and who has extra time', async () => {
    await settleSession(engine, 'tb', { until: '16:00' }, feedback, now, recorder());
    await extendSession(engine, { className: 'tb', student: 3, by: '20m' }, feedback, signal, now, recorder());
    const view = boardView(await classBoard('tb', engine));
    const tz = (await session()).timeZone;
    const at = (iso: string) => clockText(Date.parse(iso), tz);
    assert.equal(
      view.session,
      `Session ends at 16:00 · extra time: student 3 until ${at('2026-12-02T16:20:00Z')}`.replace(
        '16:00',
        at((await session()).end),
      ),
    );
    assert.match(boardPage(view, '/stream'), /<p id="session">Session ends at \d\d:\d\d · extra time: student 3/);
  });

  it('down --purge refuses a graded class until each student has an archive made after their end', async () => {
    await settleSession(engine, 'tb', { for: '1h' }, feedback, now, recorder());
    await extendSession(engine, { className: 'tb', student: 1, by: '30m' }, feedback, signal, now, recorder());
    // An archive during the session does not count: what came after it would be lost.
    await noteArchived(engine, 'tb', [1, 2, 3], '2026-12-02T14:50:00.000Z');
    await fails(
      down({ className: 'tb', purge: true, yes: true }, testContext(engine).ctx),
      ExitCode.conflict,
      /graded session .* students 1, 2, 3 have no archive made after the end/,
    );
    await noteArchived(engine, 'tb', [1, 2, 3], '2026-12-02T15:10:00.000Z');
    await fails(
      down({ className: 'tb', purge: true, yes: true }, testContext(engine).ctx),
      ExitCode.conflict,
      /student 1 has no archive made after the end/,
    );
    assert.ok(engine.volumes.size > 0, 'nothing was removed');
    // One student only: their own archive decides.
    const t2 = testContext(engine);
    await down({ className: 'tb', student: 2, purge: true, yes: true }, t2.ctx);
    assert.match(t2.stdout(), /Removed .* volumes/);
    // --force purges anyway.
    const forced = testContext(engine);
    await down({ className: 'tb', purge: true, yes: true, force: true }, forced.ctx);
    assert.equal((await engine.list('tb')).volumes.length, 0);
  });

  it('a class with no time box is purged as before', async () => {
    const t = testContext(engine);
    await down({ className: 'tb', purge: true, yes: true }, t.ctx);
    assert.equal((await engine.list('tb')).volumes.length, 0);
  });

  it('keeps the newest record when an interrupted change left two', async () => {
    const base: Session = {
      class: 'tb',
      start: '2026-12-02T14:00:00.000Z',
      end: '2026-12-02T16:00:00.000Z',
      timeZone: 'UTC',
      extra: {},
      archived: {},
      savedAt: '2026-12-02T14:00:00.000Z',
    };
    await saveSession(engine, base, clock);
    const remove = engine.removeVolume.bind(engine);
    engine.removeVolume = () => Promise.resolve(); // interrupted before the old record went
    await saveSession(engine, { ...base, end: '2026-12-02T17:00:00.000Z' }, clock);
    engine.removeVolume = remove;
    assert.equal((await session()).end, '2026-12-02T17:00:00.000Z');
  });
});

describe("the sidecar's side of the end", () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const proof = (id: string, at: string): Result => ({ id, done: true, at, evidence: `preuve ${id}` });

  it('keeps a proof that came after the end apart; extra time makes it count, an earlier end takes one back', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-session-'));
    dirs.push(dir);
    const store = new ProgressStore(path.join(dir, 'progress.json'), () => new Date('2026-12-02T16:30:00Z'));
    await store.load();
    await store.setSession({ end: '2026-12-02T16:00:00.000Z', endText: '17:00' });
    await store.merge([
      proof('smtp-simple', '2026-12-02T15:59:59.000Z'),
      proof('pop-login', '2026-12-02T16:00:01.000Z'),
    ]);
    assert.ok(store.get('smtp-simple'));
    assert.equal(store.get('pop-login'), undefined, 'a proof a second after the end does not count');
    assert.equal(store.lateProof('pop-login')?.at, '2026-12-02T16:00:01.000Z');

    await store.setSession({ end: '2026-12-02T16:15:00.000Z', endText: '17:15' });
    assert.ok(store.get('pop-login'), 'extra time: the proof now lies inside the session');
    await store.setSession({ end: '2026-12-02T15:00:00.000Z', endText: '16:00' });
    assert.equal(store.get('smtp-simple'), undefined, 'an earlier end takes back what came after it');

    const again = new ProgressStore(path.join(dir, 'progress.json'), () => new Date('2026-12-02T16:30:00Z'));
    await again.load();
    assert.equal(again.session.end, '2026-12-02T15:00:00.000Z', 'the end survives a restart of the sidecar');
    assert.equal(again.lateProof('smtp-simple')?.at, '2026-12-02T15:59:59.000Z');
  });

  it("only labctl moves a student's end: their own key, a cookie or no key cannot (401)", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-session-'));
    dirs.push(dir);
    const config = makeConfig(dir, ['pop-login'], { adminKey: 'admin-key-1', studentKey: 'student-key-1' });
    const sidecar = new Sidecar(config);
    await sidecar.store.load();
    const server = createServer(sidecar);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    after(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/session`;
    const later = JSON.stringify({ end: '2030-01-01T00:00:00.000Z', endText: '01:00' });
    const post = (headers: Record<string, string>) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: later });
    await sidecar.setSession({ end: '2026-12-02T16:00:00.000Z', endText: '17:00' });
    // The student, who wants more time: with their own key, their page's cookie, or nothing.
    assert.equal((await post({ authorization: 'Bearer student-key-1' })).status, 401);
    assert.equal((await post({ cookie: `labctl_td1_s01=student-key-1` })).status, 401);
    assert.equal((await post({})).status, 401);
    assert.equal(sidecar.store.session.end, '2026-12-02T16:00:00.000Z', 'their end has not moved');
    const moved = await post({ authorization: 'Bearer admin-key-1' });
    assert.equal(moved.status, 200);
    assert.equal(sidecar.store.session.end, '2030-01-01T00:00:00.000Z');
  });

  it("the student's page counts down, warns in the last five minutes, and says when it is over", () => {
    const config = makeConfig(os.tmpdir(), ['pop-login']);
    const progress = (now: string) => ({
      class: 'c',
      student: 1,
      lab: 'smtp-pop-imap',
      title: 'TD',
      done: 0,
      total: 1,
      exercises: [
        {
          id: 'pop-login',
          title: 'Se connecter en POP',
          done: false,
          at: '2026-12-02T16:00:01.000Z',
          evidence: 'util1',
          afterEnd: true,
        },
      ],
      session: { end: '2026-12-02T16:00:00.000Z', endText: '17:00', now },
    });
    assert.match(
      renderPage(config, progress('2026-12-02T15:00:00Z')),
      /Fin de la séance : 17:00 \(temps restant : 1 h 00 min\)/,
    );
    assert.match(
      renderPage(config, progress('2026-12-02T15:57:00Z')),
      /class="session warning"[^>]*>Attention : la séance se termine à 17:00 \(dans 3 min 00 s\)/,
    );
    const ended = renderPage(config, progress('2026-12-02T16:00:05Z'));
    assert.match(ended, /class="session ended"[^>]*>La séance est terminée \(17:00\)/);
    assert.match(ended, /Après la fin de la séance, ne compte pas : util1/);
  });
});
