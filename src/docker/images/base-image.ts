import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { ExitCode, LabctlError } from '../../errors.js';
import { BASE_IMAGE } from '../engine.js';
import { follow } from './progress.js';
import { splitReference } from './push.js';

const BASE = splitReference(BASE_IMAGE);

/** The Debian mirror the host's apt uses, so the bootstrap needs no other network access. */
export function hostDebianMirror(): string {
  if (process.env.LABCTL_DEBIAN_MIRROR) return process.env.LABCTL_DEBIAN_MIRROR;
  const candidates = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const deb822 = /^URIs:\s*(\S+)/m.exec(text);
    if (deb822?.[1] && !deb822[1].includes('security')) return deb822[1];
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(text);
    if (oneLine?.[1]) return oneLine[1];
  }
  return 'http://deb.debian.org/debian';
}

function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    const full = path.join(dir, tool);
    if (existsSync(full)) return full;
  }
  return undefined;
}

export function bootstrapTool(): string | undefined {
  return which('mmdebstrap') ?? which('debootstrap');
}

async function tryPull(docker: Docker, onStep: (line: string) => void): Promise<boolean> {
  if (process.env.LABCTL_BASE_FROM === 'bootstrap') return false;
  try {
    onStep('pulling debian:bookworm');
    const stream = await docker.pull('debian:bookworm', { abortSignal: AbortSignal.timeout(20_000) });
    await follow(docker, stream, () => {});
    await docker.getImage('debian:bookworm').tag({ ...BASE });
    return true;
  } catch {
    return false;
  }
}

/** Debian bookworm as the base image: from a registry when one answers, else bootstrapped from the host's mirror. */
export async function ensureBaseImage(
  docker: Docker,
  onStep: (line: string) => void,
  signal?: AbortSignal,
): Promise<'present' | 'pulled' | 'bootstrapped'> {
  try {
    await docker.getImage(BASE_IMAGE).inspect();
    return 'present';
  } catch {
    // not there yet
  }
  signal?.throwIfAborted();
  if (await tryPull(docker, onStep)) return 'pulled';
  signal?.throwIfAborted();
  const tool = bootstrapTool();
  if (!tool) {
    throw new LabctlError(
      ExitCode.build,
      'No registry answered for debian:bookworm, and neither mmdebstrap nor debootstrap is installed.',
      'Install one (`apt-get install mmdebstrap`) or run `labctl doctor --fix`.',
    );
  }
  const mirror = hostDebianMirror();
  onStep(`bootstrapping Debian bookworm from ${mirror} with ${path.basename(tool)}`);
  const args =
    path.basename(tool) === 'mmdebstrap' ? ['--variant=minbase', '--quiet', 'bookworm', '-', mirror] : undefined;
  if (!args) return bootstrapWithDebootstrap(docker, tool, mirror, onStep, signal);
  // Ctrl-C kills mmdebstrap; whatever the engine imported of its cut tree is removed below.
  const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal && { signal }) });
  child.on('error', () => {}); // the abort's, and a tool that cannot start: its exit code says it below
  const stderr: string[] = [];
  child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  const imported = docker
    .importImage(child.stdout as unknown as string, { ...BASE })
    .then((stream) => follow(docker, stream, () => {}))
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  const importError = await imported;
  const code = await exited;
  if (code !== 0 || importError !== undefined || signal?.aborted) {
    await docker
      .getImage(BASE_IMAGE)
      .remove()
      .catch(() => {});
    if (signal?.aborted) throw signal.reason;
    if (code === 0) throw importError;
    throw new LabctlError(
      ExitCode.build,
      `mmdebstrap failed (exit ${code}):\n${stderr.join('').slice(-2000)}`,
      `Check that ${mirror} answers (apt-get update), or set LABCTL_DEBIAN_MIRROR.`,
    );
  }
  return 'bootstrapped';
}

async function bootstrapWithDebootstrap(
  docker: Docker,
  tool: string,
  mirror: string,
  onStep: (line: string) => void,
  signal?: AbortSignal,
): Promise<'bootstrapped'> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-base-'));
  try {
    const run = (cmd: string, args: string[]) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(signal && { signal }) });
        child.on('error', () => {}); // the abort's: its exit code says it below
        let err = '';
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('close', (code) =>
          code === 0
            ? resolve()
            : reject(
                signal?.aborted
                  ? (signal.reason as Error)
                  : new LabctlError(ExitCode.build, `${cmd} failed (exit ${code}):\n${err.slice(-2000)}`),
              ),
        );
      });
    await run(tool, ['--variant=minbase', 'bookworm', dir, mirror]);
    signal?.throwIfAborted();
    onStep('importing the bootstrapped tree');
    const child = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const stream = await docker.importImage(child.stdout as unknown as string, { ...BASE });
    await follow(docker, stream, () => {});
    return 'bootstrapped';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
