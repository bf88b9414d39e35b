import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import path from 'node:path';
import { DEFAULT_LAB_FILE, LABS_DIR, labFromLabel, loadLab, pairFor, parseLab } from '../../src/core/lab.js';
import { LabctlError } from '../../src/errors.js';

const VALID = `
name: mini
title: Mini
accounts: { prefix: util, count: 3, password: secret }
pairs: [[util1, util2]]
services: { smtp: 25, pop3: 110, imap: 143, ssh: 22 }
evidence:
  lines:
    pop3-login:
      program: pop3d
      match: "LOGIN, user={user:value}, ip=[{ip:ip}]{_:rest}"
exercises:
  - id: pop-login
    title: Se connecter
    credit: { on: pop3-login, say: "{user} connecté" }
`;

function invalid(text: string): string {
  try {
    parseLab(text, '/labs/bad.yaml');
  } catch (error) {
    assert.ok(error instanceof LabctlError);
    assert.equal(error.exitCode, 2);
    return error.message;
  }
  assert.fail('the lab file was accepted');
}

describe('lab file', () => {
  it('loads the default lab: util1..util19 with master2021, and the TD pairs', async () => {
    const lab = await loadLab();
    assert.equal(lab.name, 'smtp-pop-imap');
    assert.equal(lab.accounts.length, 19);
    assert.deepEqual(lab.accounts[0], { user: 'util1', password: 'master2021' });
    assert.deepEqual(lab.accounts[18], { user: 'util19', password: 'master2021' });
    assert.deepEqual(lab.services, { smtp: 25, pop3: 110, imap: 143, ssh: 22 });
    assert.equal(lab.exercises.length, 12);
  });

  it('pairs Etudiant N with utilN/util(N+10), wrapping after 9', async () => {
    const lab = await loadLab();
    assert.deepEqual(pairFor(lab, 1), ['util1', 'util11']);
    assert.deepEqual(pairFor(lab, 9), ['util9', 'util19']);
    assert.deepEqual(pairFor(lab, 10), ['util1', 'util11']);
    assert.deepEqual(pairFor(lab, 19), ['util1', 'util11']);
  });

  it('names the file and the field of a wrong value', () => {
    const message = invalid(VALID.replace('count: 3', 'count: many'));
    assert.match(message, /^\/labs\/bad\.yaml: invalid lab file:/);
    assert.match(message, /accounts\.count: /);
  });

  it('names a missing service, and a service whose protocol it cannot guess', () => {
    assert.match(invalid(VALID.replace(', ssh: 22', '')), /services: an ssh service/);
    assert.match(
      invalid(VALID.replace('ssh: 22', 'ssh: 22, submission: 587')),
      /services\.submission: give its protocol/,
    );
    const lab = parseLab(
      VALID.replace(
        'ssh: 22',
        'ssh: 22, submission: { port: 587, protocol: smtp, tls: starttls }, imaps: { port: 993, protocol: imap, tls: implicit }',
      ),
      '/labs/ok.yaml',
    );
    assert.deepEqual(lab.protocols.submission, { protocol: 'smtp', tls: 'starttls', label: 'SMTP (STARTTLS)' });
    assert.deepEqual(lab.protocols.imaps, { protocol: 'imap', tls: 'implicit', label: 'IMAPS' });
    assert.match(
      invalid(VALID.replace('ssh: 22', 'ssh: 22, pop3s: { port: 1110, protocol: pop3, tls: implicit }')),
      /services\.pop3s: port 1110 maps to the same host port as pop3/,
    );
  });

  it('refuses a pair that names an unknown account', () => {
    assert.match(
      invalid(VALID.replace('[[util1, util2]]', '[[util1, util9]]')),
      /pairs\.0\.1: "util9" is not one of the accounts util1\.\.util3/,
    );
  });

  it('refuses two services on the same host port', () => {
    assert.match(
      invalid(VALID.replace('ssh: 22', 'ssh: 1025')),
      /services\.ssh: port 1025 maps to the same host port as smtp/,
    );
  });

  it("reads the disk's size in the units people write, and refuses one too small to hold a message", () => {
    assert.equal(parseLab(VALID, '/labs/ok.yaml').disk, 1024 ** 3, 'the default: 1 GiB');
    assert.equal(parseLab(`${VALID}disk: 512MiB\n`, '/labs/ok.yaml').disk, 512 * 1024 ** 2);
    assert.equal(parseLab(`${VALID}disk: 2G\n`, '/labs/ok.yaml').disk, 2 * 1024 ** 3);
    assert.match(invalid(`${VALID}disk: 100MiB\n`), /disk: a size from 128MiB to 1TiB, such as 1GiB or 512MiB/);
    assert.match(invalid(`${VALID}disk: lots\n`), /disk: a size from 128MiB/);
  });

  it('refuses unknown fields and duplicate exercise ids', () => {
    assert.match(invalid(`${VALID}colour: blue\n`), /Unrecognized key.*colour/i);
    assert.match(
      invalid(`${VALID}  - id: pop-login\n    title: Encore\n    credit: { on: pop3-login, say: "{user}" }\n`),
      /exercises\.1\.id: "pop-login" appears twice \(line 16\)/,
    );
  });

  it('refuses an exercise that nothing can credit, naming the field and its line', () => {
    // Today's trap: an id with no rule loaded, and could never be credited.
    assert.match(
      invalid(VALID.replace('    credit: { on: pop3-login, say: "{user} connecté" }\n', '')),
      /exercises\.0\.credit: Invalid input/,
    );
    assert.match(
      invalid(VALID.replace('on: pop3-login,', 'on: pop-login,')),
      /exercises\.0\.credit\.on: no event "pop-login" \(pop3-login, message\) \(line 15\)/,
    );
    assert.match(
      invalid(VALID.replace('say: "{user} connecté"', 'say: "{usr} connecté"')),
      /exercises\.0\.credit\.say: the event "pop3-login" has no field "usr" \(it has time, uid, pid, host, program, daemon, user, ip\) \(line 15\)/,
    );
    assert.match(
      invalid(VALID.replace('say: "{user} connecté" }', 'say: "{user}", where: { user: { is: inside-ish } } }')),
      /exercises\.0\.credit\.where\.user\.is: "inside-ish" is not a class/,
    );
  });

  it('refuses a line template it cannot read, and a sender the kernel does not vouch for', () => {
    assert.match(
      invalid(VALID.replace('{user:value}', '{user:email}')),
      /evidence\.lines\.pop3-login\.match: "email" is not a type .* \(line 11\)/,
    );
    assert.match(invalid(VALID.replace('{_:rest}"', '{?{_:rest}"')), /a "\{\?" is not closed/);
    assert.match(
      invalid(VALID.replace('program: pop3d', 'program: pop3d\n      uid: student')),
      /evidence\.lines\.pop3-login\.uid: Invalid/,
    );
  });

  it('finds a lab by its name, its folder or its file; labs/smtp-pop-imap.yaml is the TD still', async () => {
    for (const ref of ['smtp-pop-imap', path.join(LABS_DIR, 'smtp-pop-imap'), DEFAULT_LAB_FILE]) {
      const lab = await loadLab(ref);
      assert.equal(lab.name, 'smtp-pop-imap');
      assert.equal(lab.dir, path.join(LABS_DIR, 'smtp-pop-imap'));
    }
    const old = await loadLab(path.join(LABS_DIR, 'smtp-pop-imap.yaml'));
    assert.equal(old.dir, path.join(LABS_DIR, 'smtp-pop-imap'), 'the old path is a link into the folder');
    await assert.rejects(
      loadLab('no-such-lab'),
      /cannot read lab file .*no-such-lab\/lab\.yaml: ENOENT \(labs here: .*smtp-pop-imap/,
    );
  });

  it('reads a running class made before labs held their rules by the lab of its name that comes with labctl', async () => {
    // What an older labctl stored on the class: the TD's exercises with titles and no rules.
    const td = await loadLab();
    const older = (name: string, ids = td.exercises.map((e) => e.id)) =>
      JSON.stringify({ ...td.definition, name, exercises: ids.map((id) => ({ id, title: id })) });
    const lab = labFromLabel(older('smtp-pop-imap'), undefined);
    assert.deepEqual(
      lab.exercises.map((e) => e.id),
      td.exercises.map((e) => e.id),
    );
    assert.ok(
      lab.exercises.every((e) => e.credit),
      'with the rules of the lab file',
    );
    // Another lab's name, or exercises that are not the bundled lab's: nothing to read the rules from.
    assert.throws(() => labFromLabel(older('my-own-lab'), undefined), /before labs held their exercises' rules/);
    assert.throws(
      () => labFromLabel(older('smtp-pop-imap', ['smtp-simple', 'mine']), undefined),
      /before labs held their exercises' rules/,
    );
  });

  it('reports broken YAML with its line', () => {
    assert.match(invalid('name: [unclosed\n'), /bad\.yaml \(line \d+\): not valid YAML/);
  });

  it('says which file it cannot read', async () => {
    await assert.rejects(loadLab('/nonexistent/lab.yaml'), /cannot read lab file \/nonexistent\/lab\.yaml: ENOENT/);
  });
});
