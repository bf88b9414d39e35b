import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadLab } from '../../src/core/lab.js';
import { compileRules } from '../../src/core/lab-rules/compile.js';
import { LabVerifier } from '../../src/sidecar/verifier.js';

/**
 * The second lab's rules over a real server's verification log (test/fixtures/smtp-tls-verify.log, from `up --lab
 * smtp-tls`): labctl's readiness probes, labs/smtp-tls/solve, then the student's near misses. What each part earns.
 */
const lab = await loadLab('smtp-tls');
const compiled = compileRules(lab);
const sections = new Map<string, string[]>();
let current = '';
for (const line of readFileSync(new URL('../../../test/fixtures/smtp-tls-verify.log', import.meta.url), 'utf8').split(
  '\n',
)) {
  if (line.startsWith('## ')) sections.set((current = line.slice(3)), []);
  else if (current && line) sections.get(current)!.push(line);
}
const part = (name: string) => sections.get(name) ?? assert.fail(`no section ${name}`);

function verify(lines: string[]) {
  const v = new LabVerifier({
    lab: compiled,
    cardDomain: 's01.tl2.test',
    accounts: lab.accounts.map((a) => a.user),
    now: () => new Date('2026-12-02T10:14:00Z'),
  });
  for (const l of lines) v.addLine(l);
  return {
    credits: v
      .take()
      .map((r) => r.id)
      .sort(),
    hints: Object.fromEntries(v.hints()),
  };
}

describe('labs/smtp-tls: its rules over a real server’s log', () => {
  it('the solve script’s sessions earn all ten exercises, with evidence', () => {
    const v = new LabVerifier({
      lab: compiled,
      cardDomain: 's01.tl2.test',
      now: () => new Date('2026-12-02T10:14:00Z'),
    });
    for (const l of [...part('probes'), ...part('solve')]) v.addLine(l);
    const results = v.take();
    assert.deepEqual(results.map((r) => r.id).sort(), lab.exercises.map((e) => e.id).sort());
    const say = Object.fromEntries(results.map((r) => [r.id, r.evidence]));
    assert.match(say['tls-auth-refused']!, /auth=0\/1/);
    assert.match(say['tls-relay-refused']!, /someone@example\.org .*Relay access denied/);
    assert.match(say['tls-auth-login']!, /AUTH LOGIN en tant que util1/);
    assert.match(say['tls-certificate']!, /TLSv1\.3 sur le port 465/);
  });

  it('labctl’s readiness probes (a handshake on 465 then QUIT, greetings on the others) earn nothing and hint nothing', () => {
    assert.deepEqual(verify(part('probes')), { credits: [], hints: {} });
  });

  it('a wrong AUTH password, a message on plain port 25, EHLO on 465: only the STARTTLS done, and the hints', () => {
    const { credits, hints } = verify(part('near misses'));
    // The wrong password came after a real STARTTLS, which is credited; nothing of AUTH, submission or SMTPS is.
    assert.deepEqual(credits, ['tls-starttls']);
    assert.match(hints['tls-auth-plain']!, /AUTH a été refusé après STARTTLS/);
    assert.match(hints['tls-certificate']!, /sans taper de commande/);
    assert.equal(hints['tls-auth-refused'], undefined, 'an AUTH refused after STARTTLS is not the refusal before it');
  });

  it('the same lines, had the student written them with logger (their uid), earn nothing', () => {
    const forged = [...part('probes'), ...part('solve')].map((l) => l.replace(/ uid=\d+ /, ' uid=100001 '));
    assert.deepEqual(verify(forged).credits, []);
  });
});
