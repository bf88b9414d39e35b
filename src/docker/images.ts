import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import { ExitCode, LabctlError } from '../errors.js';
import { LABEL } from '../core/labels.js';
import type Docker from 'dockerode';
import type { ImageFile } from './engine.js';

const BASE_IMAGE = 'labctl/base:bookworm';

interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string };
}

function packContext(files: ImageFile[]): tar.Pack {
  const pack = tar.pack();
  for (const f of files) pack.entry({ name: f.path, mode: f.mode ?? 0o644 }, f.content);
  pack.finalize();
  return pack;
}

/**
 * Follows a build or import progress stream. dockerode resolves even when the build failed,
 * so the error events are looked for here, and the failing step and its output are kept.
 */
function follow(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onStep: (line: string) => void,
): Promise<{ output: string[]; step: string }> {
  const output: string[] = [];
  let step = '';
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(error) : resolve({ output, step })),
      (event: ProgressEvent) => {
        if (event.error || event.errorDetail) {
          const message = event.errorDetail?.message ?? event.error ?? 'unknown error';
          reject(
            new LabctlError(
              ExitCode.build,
              `Build failed at ${step || 'the first step'}:\n${output.slice(-25).join('\n')}\n${message}`,
              'Fix the step above and run `labctl build` again.',
            ),
          );
          return;
        }
        const text = (event.stream ?? event.status ?? '').trimEnd();
        if (!text) return;
        for (const line of text.split('\n')) {
          output.push(line);
          if (/^Step \d+\/\d+ :/.test(line)) {
            step = line;
            onStep(line);
          }
        }
      },
    );
  });
}

/** `host:5000/labctl/mail:abc` as its repository and tag (`latest` when it names none). */
export function splitReference(ref: string): { repo: string; tag: string } {
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/')
    ? { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) }
    : { repo: ref, tag: 'latest' };
}

const DIGEST = /sha256:[0-9a-f]{64}/;

/**
 * Tags `ref` as `registry/ref` and pushes it; a refused push (no registry there, no auth) is an engine error.
 * Resolves to the pushed image by the digest the registry gave for it, `registry/ref@sha256:…`: whoever can write
 * to the registry can move its tag, not that digest.
 */
export async function pushImage(
  docker: Docker,
  ref: string,
  registry: string,
  onStep: (line: string) => void,
): Promise<string> {
  const target = `${registry.replace(/\/+$/, '')}/${ref}`;
  const { repo, tag } = splitReference(target);
  let digest: string | undefined;
  try {
    await docker.getImage(ref).tag({ repo, tag });
    // Docker wants an X-Registry-Auth header even for a registry without auth.
    const stream = (await docker.getImage(target).push({ authconfig: {} })) as unknown as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (error: Error | null) => (error ? reject(error) : resolve()),
        (event: ProgressEvent) => {
          if (event.error || event.errorDetail) return reject(new Error(event.errorDetail?.message ?? event.error));
          digest = DIGEST.exec(event.aux?.Digest ?? '')?.[0] ?? digest;
          if (event.status && /^(Pushed|Layer already exists|.*digest:)/.test(event.status)) onStep(event.status);
        },
      );
    });
    if (!digest) throw new Error('the registry gave no digest for the image');
    return `${target}@${digest}`;
  } catch (error) {
    // A push that failed leaves no registry name behind on this engine.
    await docker
      .getImage(target)
      .remove({ noprune: true })
      .catch(() => {});
    const e = error as Error & { json?: { message?: string } };
    throw new LabctlError(
      ExitCode.engine,
      `Failed to push ${target}: ${(e.json?.message ?? e.message).trim()}`,
      `Check that a registry answers at ${registry} and that this engine may push there (docker login; a registry without TLS must be in dockerd's insecure-registries, loopback excepted).`,
    );
  }
}

export async function buildImage(
  docker: Docker,
  tag: string,
  files: ImageFile[],
  onStep: (line: string) => void,
  buildargs: Record<string, string> = {},
): Promise<void> {
  const stream = await docker.buildImage(packContext(files) as unknown as NodeJS.ReadableStream, {
    t: tag,
    buildargs,
    labels: { [LABEL.image]: tag.split(':')[0]! },
    rm: true,
    forcerm: true,
  });
  await follow(docker, stream, onStep);
}

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
    await docker.getImage('debian:bookworm').tag({ repo: 'labctl/base', tag: 'bookworm' });
    return true;
  } catch {
    return false;
  }
}

/** Debian bookworm as labctl/base: from a registry when one answers, else bootstrapped from the host's mirror. */
export async function ensureBaseImage(
  docker: Docker,
  onStep: (line: string) => void,
): Promise<'present' | 'pulled' | 'bootstrapped'> {
  try {
    await docker.getImage(BASE_IMAGE).inspect();
    return 'present';
  } catch {
    // not there yet
  }
  if (await tryPull(docker, onStep)) return 'pulled';
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
  if (!args) return bootstrapWithDebootstrap(docker, tool, mirror, onStep);
  const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  const stream = await docker.importImage(child.stdout as unknown as string, { repo: 'labctl/base', tag: 'bookworm' });
  await follow(docker, stream, () => {});
  const code = await exited;
  if (code !== 0) {
    await docker
      .getImage(BASE_IMAGE)
      .remove()
      .catch(() => {});
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
): Promise<'bootstrapped'> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-base-'));
  try {
    const run = (cmd: string, args: string[]) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('close', (code) =>
          code === 0
            ? resolve()
            : reject(new LabctlError(ExitCode.build, `${cmd} failed (exit ${code}):\n${err.slice(-2000)}`)),
        );
      });
    await run(tool, ['--variant=minbase', 'bookworm', dir, mirror]);
    onStep('importing the bootstrapped tree');
    const child = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const stream = await docker.importImage(child.stdout as unknown as string, {
      repo: 'labctl/base',
      tag: 'bookworm',
    });
    await follow(docker, stream, () => {});
    return 'bootstrapped';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
