import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

const BINARY = '/usr/bin/docker-registry';

/** Why a test that needs a registry cannot run here, or undefined when it can. */
export function testRegistryUnavailable(): string | undefined {
  try {
    accessSync(BINARY, constants.X_OK);
    return undefined;
  } catch {
    return 'docker-registry is not installed (Debian: apt-get install docker-registry): this test starts one';
  }
}

export interface TestRegistry {
  /** 127.0.0.1:PORT: Docker pushes to a loopback registry without TLS. */
  address: string;
  /** The tags the registry holds for a repository (GET /v2/REPO/tags/list). */
  tags(repo: string): Promise<string[]>;
  /** The digest of the manifest a tag names now. */
  digest(repo: string, tag: string): Promise<string>;
  /**
   * What anyone on the network can do to a registry without login: point `toRepo:toTag` at the image `fromRepo:fromTag`
   * (its blobs mounted across repositories, then its manifest put under the tag), with no Docker engine involved.
   */
  retag(fromRepo: string, fromTag: string, toRepo: string, toTag: string): Promise<void>;
  stop(): Promise<void>;
}

const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** A Docker registry (the distribution's, Debian's docker-registry) on a free loopback port, storing in a temp dir. */
export async function startTestRegistry(): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-test-registry-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const config = path.join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: ${address}\n`,
  );
  const child: ChildProcess = spawn(BINARY, ['serve', config], { stdio: 'ignore' });
  const tags = async (repo: string) => {
    const res = await fetch(`http://${address}/v2/${repo}/tags/list`);
    if (res.status === 404) return [];
    return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
  };
  for (let i = 0; ; i++) {
    const up = await fetch(`http://${address}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (i > 100) throw new Error(`docker-registry did not answer at ${address}`);
    await sleep(100);
  }
  const base = `http://${address}/v2`;
  const manifest = async (repo: string, tag: string) => {
    const res = await fetch(`${base}/${repo}/manifests/${tag}`, { headers: { accept: MANIFEST } });
    if (!res.ok) throw new Error(`GET manifest ${repo}:${tag}: ${res.status}`);
    return { body: await res.text(), digest: res.headers.get('docker-content-digest') ?? '' };
  };
  const retag = async (fromRepo: string, fromTag: string, toRepo: string, toTag: string) => {
    const { body } = await manifest(fromRepo, fromTag);
    const parsed = JSON.parse(body) as { config: { digest: string }; layers: { digest: string }[] };
    for (const blob of [parsed.config, ...parsed.layers]) {
      const res = await fetch(`${base}/${toRepo}/blobs/uploads/?mount=${blob.digest}&from=${fromRepo}`, {
        method: 'POST',
      });
      if (res.status !== 201) throw new Error(`mount ${blob.digest} into ${toRepo}: ${res.status}`);
    }
    const put = await fetch(`${base}/${toRepo}/manifests/${toTag}`, {
      method: 'PUT',
      headers: { 'content-type': MANIFEST },
      body,
    });
    if (put.status !== 201) throw new Error(`PUT manifest ${toRepo}:${toTag}: ${put.status} ${await put.text()}`);
  };
  return {
    address,
    tags,
    digest: async (repo, tag) => (await manifest(repo, tag)).digest,
    retag,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
