import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import type { ClassInfo } from '../../src/core/class-model.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass, containerLogs, docker, exec, runOnce } from '../helpers/docker.js';
import { startEngineProxy } from '../helpers/engine-proxy.js';
import { freeBasePort } from '../helpers/ports.js';
import { sshRun } from '../helpers/ssh.js';
import { classBoard, imapSession, popSession, waitForCredits } from '../helpers/td.js';

/**
 * Fail closed, lose nothing: a mail server that cannot set its firewall does not start, and `up` says why; the lab's
 * accounts cannot ask Docker's resolver; a progress file the sidecar cannot read is never written over, and one left
 * by an older labctl (owned by root) is taken over with its credits.
 */
const CLASS = `fc${process.pid}`;
const PASSWORD = 'master2021';
const CLASS_LABEL = { 'dev.labctl.class': CLASS };
let info: ClassInfo;
const port = (service: string) => info.students[0]!.ports[service]!;
const mailName = `labctl-${CLASS}-s01-mail`;
const sidecarName = `labctl-${CLASS}-s01-sidecar`;
const progressVolume = `labctl-${CLASS}-s01-progress`;
let mailSpec: Docker.ContainerInspectInfo;
let sidecarImage = '';
let scratch = '';
let base = 0;

/** Starts a mail container of the class's image and configuration, changed by `host`; resolves to its name. */
async function startMail(suffix: string, host: Docker.HostConfig, mounts: Docker.MountSettings[] = []) {
  const name = `labctl-${CLASS}-${suffix}`;
  const container = await docker.createContainer({
    name,
    Image: mailSpec.Config.Image,
    Env: mailSpec.Config.Env,
    Labels: CLASS_LABEL,
    HostConfig: { CapDrop: ['NET_RAW', 'MKNOD'], Mounts: mounts, ...host },
  });
  await container.start();
  return name;
}

/** The container's exit code once it stops, and what it said; fails if it starts its daemons instead. */
async function exited(name: string): Promise<{ code: number; log: string }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    // Its state first, then its log: a log read before it stopped may miss its last words.
    const { State } = await docker.getContainer(name).inspect();
    const log = await containerLogs(name);
    if (!State.Running) return { code: State.ExitCode, log };
    if (/mail server up/.test(log) || Date.now() > deadline) assert.fail(`${name} did not stop:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the container's log matches `line`; fails with the log if it stops first or never says it. */
async function said(name: string, line: RegExp, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const log = await containerLogs(name);
    if (line.test(log)) return;
    const { State } = await docker.getContainer(name).inspect();
    if (!State.Running || Date.now() > deadline) assert.fail(`${name} (${State.Status}) never said ${line}:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs `script` as root on the student's progress volume (the sidecar stopped, or not). */
const onProgress = (script: string) => runOnce(sidecarImage, script, { [progressVolume]: '/state' }, CLASS_LABEL);

/** The board's row of student 1, asked until `ready` holds (the sidecar answers within a poll or two). */
async function row(ready: (r: Awaited<ReturnType<typeof classBoard>>['students'][number]) => boolean) {
  let last;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    last = (await classBoard(CLASS)).students[0]!;
    if (ready(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`the board never showed what was expected: ${JSON.stringify(last)}`);
}

describe('fail closed, lose nothing', { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    scratch = await mkdtemp(path.join(os.tmpdir(), 'labctl-fail-closed-'));
    base = await freeBasePort(1);
    const up = await labctl([...upArgs(CLASS, 1, base), '--timeout', '60']);
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
    mailSpec = await docker.getContainer(mailName).inspect();
    sidecarImage = (await docker.getContainer(sidecarName).inspect()).Config.Image;
  });
  after(async () => {
    await cleanClass(CLASS);
    await rm(scratch, { recursive: true, force: true });
  });

  it("the lab's accounts cannot ask Docker's resolver; root on the server still can", async () => {
    // The sidecar's name is one only Docker's resolver (127.0.0.11) knows.
    const root = await exec(mailName, ['getent', 'hosts', sidecarName]);
    assert.equal(root.code, 0, root.output);
    assert.match(root.output, new RegExp(`^\\d+\\.\\d+\\.\\d+\\.\\d+\\s+${sidecarName}`));
    const asUtil1 = await sshRun(
      port('ssh'),
      'util1',
      PASSWORD,
      `getent hosts ${sidecarName}; echo "getent=$?"; ` +
        `timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.11/53 && echo TCP-OPEN' 2>&1 || echo TCP-BLOCKED`,
    );
    assert.match(asUtil1.stdout, /^getent=2$/m, asUtil1.stdout);
    assert.doesNotMatch(asUtil1.stdout, new RegExp(sidecarName));
    assert.match(asUtil1.stdout, /TCP-BLOCKED/);
    assert.match(asUtil1.stdout, /Connection refused/);
  });

  it('a mail server without NET_ADMIN does not start, and says it is the firewall', async () => {
    const name = await startMail('no-net-admin', {});
    const { code, log } = await exited(name);
    assert.notEqual(code, 0);
    assert.match(log, /does not start: its egress firewall cannot be set.*\(iptables-restore: .*Permission denied/);
    assert.match(log, /NET_ADMIN/);
    assert.doesNotMatch(log, /mail server up/);
  });

  it('ip6tables failing stops the server where IPv6 is on, and only there', async () => {
    const fake = path.join(scratch, 'ip6tables-restore');
    await writeFile(fake, '#!/bin/sh\necho "ip6tables-restore: no IPv6 tables here (test)" >&2\nexit 1\n', {
      mode: 0o755,
    });
    const mount = { Type: 'bind' as const, Source: fake, Target: '/usr/local/sbin/ip6tables-restore', ReadOnly: true };
    const sysctls = (off: string) => ({
      'net.ipv6.conf.all.disable_ipv6': off,
      'net.ipv6.conf.default.disable_ipv6': off,
    });
    const on = await startMail('ipv6-on', { CapAdd: ['NET_ADMIN'], Sysctls: sysctls('0') }, [mount]);
    const stopped = await exited(on);
    assert.notEqual(stopped.code, 0);
    assert.match(stopped.log, /ip6tables-restore: no IPv6 tables here \(test\), and IPv6 is on/);
    // Where IPv6 is off everywhere there is no IPv6 way out to close: the server starts.
    const off = await startMail('ipv6-off', { CapAdd: ['NET_ADMIN'], Sysctls: sysctls('1') }, [mount]);
    await said(off, /labctl: mail server up/);
  });

  it('`up` on an engine that does not grant NET_ADMIN fails that student, and says it is the firewall', async () => {
    const other = `${CLASS}n`;
    const proxy = await startEngineProxy((create) => {
      const host = (create.HostConfig ?? {}) as { CapAdd?: string[] };
      return { ...create, HostConfig: { ...host, CapAdd: (host.CapAdd ?? []).filter((c) => c !== 'NET_ADMIN') } };
    });
    try {
      const up = await labctl([...upArgs(other, 1, await freeBasePort(1)), '--timeout', '20'], undefined, proxy.env);
      assert.equal(up.code, 6, up.stderr);
      assert.match(up.stderr, /Student 1's mail server did not get ready/);
      assert.match(up.stderr, /does not start: its egress firewall cannot be set/);
    } finally {
      await proxy.close();
      await cleanClass(other);
    }
  });

  it('a progress file the sidecar cannot read is never written over; check shows that student why', async () => {
    await popSession(port('pop3'), 'util1', PASSWORD, false);
    await waitForCredits(CLASS, 1, ['pop-login']);
    await docker.getContainer(sidecarName).stop({ t: 5 });
    // As a restore by hand might leave it: root's, mode 0600.
    const before = await onProgress(
      'chown 0:0 /state/progress.json && chmod 600 /state/progress.json && md5sum /state/progress.json',
    );
    assert.equal(before.code, 0, before.output);
    await docker.getContainer(sidecarName).start();
    const shown = await row((r) => r.error !== undefined && !/sidecar down/.test(r.error));
    assert.match(shown.error ?? '', /^progress not saved: cannot read \/state\/progress\.json \(EACCES/);
    const health = await fetch(`http://127.0.0.1:${port('web')}/health`);
    assert.equal(health.status, 503);
    assert.equal(((await health.json()) as { status: string }).status, 'unsaved');
    // Work goes on meanwhile (in memory), and the file stays as it was.
    await imapSession(port('imap'), 'util1', PASSWORD, false);
    await waitForCredits(CLASS, 1, ['imap-login']);
    const afterwards = await onProgress('md5sum /state/progress.json; ls /state');
    assert.equal(afterwards.output, `${before.output.trim()}\nprogress.json\n`);
  });

  it('a progress volume left by a labctl whose sidecar ran as root is taken over at `up`, credits and all', async () => {
    // What that version left: /state and the file root's (0755, 0644), in its shape (no start time, no cursor).
    const old = JSON.stringify(
      {
        credits: { 'smtp-simple': { at: '2026-11-26T09:00:00.000Z', evidence: 'message OLD1 (util1)' } },
        resetAt: null,
      },
      null,
      2,
    );
    const made = await onProgress(
      `rm -f /state/*; printf '%s' '${old}' > /state/progress.json && chmod 644 /state/progress.json && chown -R 0:0 /state && chmod 755 /state`,
    );
    assert.equal(made.code, 0, made.output);
    assert.equal((await labctl(['down', '--class', CLASS, '--yes'])).code, 0);
    const up = await labctl([...upArgs(CLASS, 1, base), '--timeout', '60']);
    assert.equal(up.code, 0, up.stderr);
    const kept = await row((r) => r.exercises.some((e) => e.id === 'smtp-simple' && e.done));
    // Taken over at its first start, not after a failed one.
    const sidecar = await docker.getContainer(sidecarName).inspect();
    assert.equal(sidecar.RestartCount, 0, await containerLogs(sidecarName));
    assert.match(await containerLogs(sidecarName), /\/state is owned by root .*giving it to uid 990/);
    assert.equal(kept.error, undefined);
    assert.match(kept.exercises.find((e) => e.id === 'smtp-simple')?.evidence ?? '', /OLD1/);
    // A new credit is saved there: it is still there after the sidecar restarts.
    await popSession(port('pop3'), 'util1', PASSWORD, false);
    await waitForCredits(CLASS, 1, ['pop-login']);
    await docker.getContainer(sidecarName).restart({ t: 5 });
    const board = await waitForCredits(CLASS, 1, ['smtp-simple', 'pop-login']);
    assert.equal(board.students[0]!.error, undefined);
    const owner = await onProgress('stat -c "%u %a" /state /state/progress.json');
    assert.equal(owner.output, '990 700\n990 600\n');
  });
});
