import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadLab, pairFor, parseLab } from '../../src/core/lab.js';
import { LabctlError } from '../../src/errors.js';

const VALID = `
name: mini
title: Mini
accounts: { prefix: util, count: 3, password: secret }
pairs: [[util1, util2]]
services: { smtp: 25, pop3: 110, imap: 143, ssh: 22 }
exercises: [{ id: smtp-simple, title: Envoyer }]
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

  it('names a missing service', () => {
    assert.match(invalid(VALID.replace('ssh: 22', '')), /services\.ssh: Invalid input: expected number/);
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
      invalid(
        VALID.replace(
          'exercises: [{ id: smtp-simple, title: Envoyer }]',
          'exercises: [{ id: a, title: x }, { id: a, title: y }]',
        ),
      ),
      /exercises\.1\.id: "a" appears twice/,
    );
  });

  it('reports broken YAML with its line', () => {
    assert.match(invalid('name: [unclosed\n'), /bad\.yaml \(line \d+\): not valid YAML/);
  });

  it('says which file it cannot read', async () => {
    await assert.rejects(loadLab('/nonexistent/lab.yaml'), /cannot read lab file \/nonexistent\/lab\.yaml: ENOENT/);
  });
});
