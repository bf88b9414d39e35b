import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { applyDiff } from '../../src/core/apply.js';
import { observe } from '../../src/core/class-up.js';
import { imageContexts } from '../../src/core/images.js';
import { loadLab } from '../../src/core/lab.js';
import { planClass, type ClassOptions, type Plan } from '../../src/core/plan.js';
import { reconcile } from '../../src/core/reconcile.js';
import type { Engine } from '../../src/docker/engine.js';
import { ExitCode, LabctlError } from '../../src/errors.js';
import { Reporter, type Prompt } from '../../src/ui/reporter.js';
import type { Context } from '../../src/commands/context.js';
import type { FakeEngine } from './fake-engine.js';

export const TOKEN = 'secret-token';

/** The TCP ports something listens on here (IPv4 and IPv6), from the kernel's tables. */
function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      // 0A: LISTEN. Connections (an engine's, a probe's TIME_WAIT) are no one answering.
      if (state === '0A' && local) ports.add(parseInt(local.split(':')[1]!, 16));
    }
  }
  return ports;
}

/**
 * A base port whose students' ports (three students: base+100 … base+399) have nothing listening. The fake
 * class's services must not answer: a real class on this machine (the README's td1, on 10000) would answer
 * the probes of `status` and `up` and make the unit tests see it.
 */
function quietBasePort(): number {
  const busy = listeningPorts();
  for (let base = 40_000; base < 60_000; base += 1000) {
    if (Array.from({ length: 300 }, (_, i) => base + 100 + i).every((port) => !busy.has(port))) return base;
  }
  throw new Error('no quiet range of ports between 40000 and 60000 for the fake class');
}

/** The base port of the fake classes: nothing on this machine answers on their students' ports. */
export const BASE = quietBasePort();

/** Student n's host ports in a fake class of the default lab (BASE's plan). */
export const ports = (n: number) => ({
  smtp: BASE + n * 100 + 25,
  pop3: BASE + n * 100 + 10,
  imap: BASE + n * 100 + 43,
  ssh: BASE + n * 100 + 22,
  web: BASE + n * 100 + 80,
});

/** A class as `up` makes it, on the fake engine: every label written by the plan, every workload running. */
export async function fakeClass(
  engine: FakeEngine,
  options: Partial<ClassOptions> & { students: number; lab?: string },
): Promise<Plan> {
  const { lab: labName, ...classOptions } = options;
  const lab = await loadLab(labName);
  // The images `up` would use: a later `up` of the class finds nothing to replace.
  const images = await imageContexts(lab);
  const plan = await planClass(lab, {
    className: 'fk',
    basePort: BASE,
    host: '192.0.2.10',
    bind: '0.0.0.0',
    mailImage: images.mail.tag,
    sidecarImage: images.sidecar.tag,
    token: TOKEN,
    passwords: 'lab',
    ...classOptions,
  });
  const diff = reconcile(plan, await observe(engine, plan.className));
  const signal = new AbortController().signal;
  await applyDiff(diff, plan, engine, { concurrency: 4, timeoutSeconds: 5, signal, ready: () => Promise.resolve() });
  engine.calls = [];
  engine.asked = [];
  return plan;
}

export interface TestContext {
  ctx: Context;
  /** What the command printed on stdout and stderr. */
  stdout(): string;
  stderr(): string;
  /** Ctrl-C, as cli.ts turns it into the context's signal. */
  interrupt(): void;
}

/** A context for a command's unit test: the engine given, a reporter whose output is kept, a signal to abort. */
export function testContext(
  engine: Engine,
  options: { json?: boolean; interactive?: boolean; prompt?: Prompt } = {},
): TestContext {
  const out: string[] = [];
  const err: string[] = [];
  const controller = new AbortController();
  const reporter = new Reporter({
    ...options,
    interactive: options.interactive ?? false,
    stdout: { isTTY: false, write: (chunk) => out.push(String(chunk)) },
    stderr: { isTTY: false, write: (chunk) => err.push(String(chunk)) },
  });
  return {
    ctx: { engine, reporter, signal: controller.signal },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    interrupt: () => controller.abort(new LabctlError(ExitCode.interrupted, 'Interrupted.')),
  };
}

/** Rejects with a LabctlError of this exit code, whose message matches; gives the error back. */
export async function fails(work: Promise<unknown>, exitCode: number, message: RegExp): Promise<LabctlError> {
  let thrown: LabctlError | undefined;
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof LabctlError, String(error));
    assert.equal(error.exitCode, exitCode, error.message);
    assert.match(error.message, message);
    thrown = error;
    return true;
  });
  return thrown!;
}
