import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClassInfo } from '../../src/core/class-model.js';
import { loadLab } from '../../src/core/lab.js';
import { studentHandout, type Step } from '../../src/ui/handout.js';
import { labctl, labctlJson, upArgs } from '../helpers/cli.js';
import { cleanClass } from '../helpers/docker.js';
import { pdfPages, sectionsByStudent } from '../helpers/pdf.js';
import { freeBasePort } from '../helpers/ports.js';
import { Session, SMTP_FINAL } from '../helpers/session.js';
import { sshRun } from '../helpers/ssh.js';
import { ALL_EXERCISES, JPEG_BASE64, waitForCredits } from '../helpers/td.js';

const CLASS = `ho${process.pid}`;
let info: ClassInfo;
let dir = '';

const servicePorts = (n: number) =>
  ['smtp', 'pop3', 'imap', 'ssh'].map((k) => String(info.students.find((s) => s.student === n)!.ports[k]));

function assertOwnPorts(n: number, other: number, text: string): void {
  for (const p of servicePorts(n)) assert.match(text, new RegExp(`\\b${p}\\b`), `student ${n}: own port ${p}`);
  for (const p of servicePorts(other))
    assert.doesNotMatch(text, new RegExp(`\\b${p}\\b`), `student ${n}'s section shows student ${other}'s port ${p}`);
}

/** Types a handout dialogue into the server as a student would in telnet, checking each answer. */
async function typeDialogue(step: Step): Promise<string[]> {
  const [telnet, ...lines] = step.lines!;
  const [, host, port] = /^telnet (\S+) (\d+)$/.exec(telnet!)!;
  const s = await Session.open(Number(port), host);
  try {
    if (step.kind === 'smtp') {
      await s.read(SMTP_FINAL);
      let data = false;
      for (const line of lines) {
        if (data && line !== '.') s.type(line);
        else if (line === 'DATA') {
          assert.match(await s.say(line, SMTP_FINAL), /^354 /);
          data = true;
        } else {
          const answer = await s.say(line, SMTP_FINAL);
          if (line.startsWith('RCPT TO: prenom.nom@')) assert.match(answer, /^550 /, 'a recipient outside the lab');
          else assert.match(answer, /^2\d\d /, `${line}: ${answer}`);
          data = false;
        }
      }
    } else if (step.kind === 'pop3') {
      await s.read(/^\+OK/);
      for (const line of lines) {
        const multi = /^(LIST|RETR)\b/.test(line);
        const answer = await s.send(line, multi ? /^\.$|^-ERR/ : /^[+-]/);
        assert.ok(answer[0]!.startsWith('+OK'), `${line}: ${answer[0]}`);
      }
    } else {
      await s.read(/^\* OK/);
      for (const line of lines) {
        const tag = line.split(' ')[0]!;
        assert.match(await s.say(line, new RegExp(`^${tag} `)), new RegExp(`^${tag} OK`), line);
      }
    }
    return s.transcript;
  } finally {
    s.close();
  }
}

/** Runs a handout's shell step over ssh: each `ssh -p PORT USER@HOST` line, then the commands under it. */
async function runShellStep(step: Step, password: (user: string) => string): Promise<string[]> {
  const outputs: string[] = [];
  let login: { port: number; user: string } | undefined;
  for (const line of step.lines!) {
    const ssh = /^ssh -p (\d+) (\S+)@\S+$/.exec(line);
    if (ssh) login = { port: Number(ssh[1]), user: ssh[2]! };
    else if (login) {
      const run = await sshRun(login.port, login.user, password(login.user), line);
      assert.equal(run.code, 0, `${login.user}$ ${line}: ${run.stderr}`);
      assert.ok(run.stdout.trim(), `${login.user}$ ${line} printed nothing`);
      outputs.push(run.stdout);
    }
  }
  return outputs;
}

describe('labctl handout on a real class', { timeout: 600_000 }, () => {
  before(async () => {
    await cleanClass(CLASS);
    dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-handout-'));
    const base = await freeBasePort(2);
    const up = await labctl(upArgs(CLASS, 2, base));
    assert.equal(up.code, 0, up.stderr);
    info = await labctlJson<ClassInfo>(['info', '--class', CLASS]);
  });
  after(async () => {
    await cleanClass(CLASS);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints a PDF with one section per student, each from a new page with their own ports', async () => {
    const file = path.join(dir, 'enonce.pdf');
    const run = await labctl(['handout', '--class', CLASS, '--output', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Wrote the handout of 2 students \(pdf\) to /);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const pages = await pdfPages(file);
    const sections = sectionsByStudent(pages);
    assert.deepEqual(
      sections.map((s) => s.student),
      [1, 2],
    );
    assert.equal(sections[0]!.firstPage, 1);
    assert.ok(sections[1]!.firstPage > 1 && !pages[sections[1]!.firstPage - 2]!.includes('Étudiant 2'));
    assertOwnPorts(1, 2, sections[0]!.text);
    assertOwnPorts(2, 1, sections[1]!.text);
    for (const s of info.students) {
      const text = sections.find((x) => x.student === s.student)!.text;
      assert.ok(text.includes(`telnet 127.0.0.1 ${s.ports.smtp}`), `student ${s.student}'s SMTP command`);
      assert.ok(text.includes(`ssh -p ${s.ports.ssh} ${s.pair[1]}@127.0.0.1`));
      assert.ok(text.includes(`RCPT TO: ${s.pair[1]}@${s.domain}`));
      assert.ok(text.includes(`cat /var/spool/mail/${s.pair[1]}`));
    }
  });

  it('--student 2 gives only student 2', async () => {
    const file = path.join(dir, 'etudiant2.pdf');
    const run = await labctl(['handout', '--class', CLASS, '--student', '2', '--format', 'pdf', '--output', file]);
    assert.equal(run.code, 0, run.stderr);
    const sections = sectionsByStudent(await pdfPages(file));
    assert.deepEqual(
      sections.map((s) => s.student),
      [2],
    );
    assertOwnPorts(2, 1, sections[0]!.text);
  });

  it('writes HTML for the screen: to a file, or to stdout', async () => {
    const file = path.join(dir, 'enonce.html');
    const run = await labctl(['handout', '--class', CLASS, '--output', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\(html\)/);
    const html = await readFile(file, 'utf8');
    assert.equal(html.match(/<section class="student"/g)?.length, 2);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const stdout = await labctl(['handout', '--class', CLASS, '--student', '1']);
    assert.equal(stdout.code, 0, stdout.stderr);
    assert.match(stdout.stdout, /^<!DOCTYPE html>/);
    assert.equal(stdout.stdout.match(/<section class="student"/g)?.length, 1);
  });

  it('refuses a PDF without a browser, saying how to install one, and still writes HTML', async () => {
    const env = { LABCTL_CHROMIUM: path.join(dir, 'no-such-chromium') };
    const file = path.join(dir, 'sans-chromium.pdf');
    const pdf = await labctl(['handout', '--class', CLASS, '--output', file], undefined, env);
    assert.equal(pdf.code, 2, pdf.stderr);
    assert.match(pdf.stderr, /needs Chromium/);
    assert.match(pdf.stderr, /apt-get install chromium/);
    await assert.rejects(stat(file), 'no file written');
    const html = await labctl(['handout', '--class', CLASS, '--output', path.join(dir, 'x.html')], undefined, env);
    assert.equal(html.code, 0, html.stderr);
  });

  it('refuses a PDF on stdout and a student the class does not have', async () => {
    const pdf = await labctl(['handout', '--class', CLASS, '--format', 'pdf']);
    assert.equal(pdf.code, 2);
    assert.match(pdf.stderr, /--output/);
    const three = await labctl(['handout', '--class', CLASS, '--student', '3', '--output', path.join(dir, 'n.pdf')]);
    assert.equal(three.code, 2);
    assert.match(three.stderr, /has no student 3/);
  });

  it('its dialogues and commands, typed as written, do every exercise of the TD', async () => {
    const lab = await loadLab();
    const me = info.students[0]!;
    const handout = studentHandout(info, me, lab);
    const password = (user: string) => me.accounts.find((a) => a.user === user)!.password;
    for (const x of handout.exercises)
      for (const step of x.steps)
        if (step.kind && step.kind !== 'shell')
          // The student pastes their photo.b64 in place of the line in brackets.
          await typeDialogue({ ...step, lines: step.lines!.map((l) => (l.startsWith('(collez') ? JPEG_BASE64 : l)) });
    await waitForCredits(CLASS, 1, ALL_EXERCISES);

    let checked = 0;
    // The commands to look at the result, over ssh, as the handout writes them (not `tail -f`, which never ends).
    for (const x of handout.exercises)
      for (const step of x.steps)
        if (
          step.kind === 'shell' &&
          step.lines![0]!.startsWith('ssh ') &&
          !step.lines!.some((l) => l.startsWith('tail -f'))
        )
          checked += (await runShellStep(step, password)).length;
    assert.ok(checked >= 7, `${checked} commands run over ssh`);
    const tools = handout.tools.flatMap((t) => t.lines!);
    const [spool] = await runShellStep(
      { text: '', kind: 'shell', lines: [tools[0]!, tools.find((l) => l.startsWith('cat '))!] },
      password,
    );
    assert.match(spool!, /Bonjour, ceci est mon premier message\./);
  });
});
