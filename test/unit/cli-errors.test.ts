import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labctl } from '../helpers/cli.js';

describe('a broken class file', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-cfg-'));
    file = path.join(dir, 'labctl.yaml');
    await writeFile(file, 'class: [oops\nstudents: 3\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('does not stop --help, <cmd> --help or init', async () => {
    const help = await labctl(['--help'], undefined, { LABCTL_CONFIG: file });
    assert.equal(help.code, 0, help.stderr);
    for (const command of ['up', 'down', 'info', 'status', 'check', 'init', 'doctor']) {
      assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'));
    }
    const upHelp = await labctl(['up', '--help'], undefined, { LABCTL_CONFIG: file });
    assert.equal(upHelp.code, 0, upHelp.stderr);
    assert.match(upHelp.stdout, /--students/);
    const init = await labctl(
      ['init', '--force', '--class', 'ce-cfg', '--students', '2', '--base-port', '20000', '--host', '127.0.0.1'],
      undefined,
      { LABCTL_CONFIG: file },
    );
    assert.equal(init.code, 0, init.stderr);
    const fixed = await labctl(['info', '--help'], undefined, { LABCTL_CONFIG: file });
    assert.match(fixed.stdout, /default: "ce-cfg"/);
    await writeFile(file, 'class: [oops\nstudents: 3\n');
  });

  it('fails a command that takes its defaults from it with exit 2, naming the file', async () => {
    const result = await labctl(['info'], undefined, { LABCTL_CONFIG: file });
    assert.equal(result.code, 2);
    assert.ok(result.stderr.includes(file), result.stderr);
    assert.match(result.stderr, /not valid YAML/);
    assert.equal(result.stdout, '');
  });
});

describe('errors under --json', () => {
  const noEngine = { DOCKER_HOST: 'unix:///nonexistent.sock', LABCTL_CONFIG: '/nonexistent/labctl.yaml' };

  it('an unreachable engine: code engine, exit 4, JSON alone on stdout', async () => {
    const result = await labctl(['info', '--json'], undefined, noEngine);
    assert.equal(result.code, 4, result.stderr);
    const { error } = JSON.parse(result.stdout) as {
      error: { code: string; message: string; hint?: string; exitCode: number };
    };
    assert.equal(error.code, 'engine');
    assert.equal(error.exitCode, 4);
    assert.match(error.message, /No Docker engine answers/);
    assert.match(error.hint ?? '', /DOCKER_HOST/);
  });

  it('a bad flag: code usage, exit 2', async () => {
    const result = await labctl(['up', '--students', '0', '--json'], undefined, noEngine);
    assert.equal(result.code, 2);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string; exitCode: number } };
    assert.deepEqual([error.code, error.exitCode], ['usage', 2]);
    assert.match(error.message, /--students must be a whole number/);
  });

  it('without --json, errors stay text on stderr and stdout stays empty', async () => {
    const result = await labctl(['info'], undefined, noEngine);
    assert.equal(result.code, 4);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^labctl: No Docker engine answers/);
  });
});
