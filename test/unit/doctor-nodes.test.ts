import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeCheck } from '../../src/core/doctor-nodes.js';
import { parseFacts } from '../../src/docker/swarm/node-facts.js';

/** What `doctor` says of a swarm's nodes, from what each node's job printed (docker/swarm/node-facts.ts). */
describe("doctor's rows for a swarm's nodes", () => {
  const MAIL = 'labctl/mail:aaaa';
  const SIDECAR = 'labctl/sidecar:bbbb';
  const manager = new Map([
    [MAIL, 'sha256:11'],
    [SIDECAR, 'sha256:22'],
  ]);
  const node = { name: 'node2', address: '10.0.0.2', role: 'worker', state: 'ready', availability: 'active' };

  it('a node with the images as on the manager, room on disk and on docker_gwbridge is ok', () => {
    const out = `root /var/lib/docker\ndisk ${50 * 2 ** 30} ${100 * 2 ** 30}\nimage ${MAIL} sha256:11\nimage ${SIDECAR} sha256:22\ngwbridge 172.18.0.0/16 6\n`;
    const row = nodeCheck({ ...node, ...parseFacts(out, manager) });
    assert.equal(
      row.detail,
      "worker, ready, active, 10.0.0.2; labctl's images: mail, sidecar as on the manager; 50 GiB free in /var/lib/docker; docker_gwbridge 172.18.0.0/16: 7 of 65534 addresses used, room for 32763 more students",
    );
    assert.deepEqual([row.check, row.ok, row.fix], ['node node2', true, undefined]);
  });

  it('an old or missing image, a full disk and a small docker_gwbridge are each said, with their fix', () => {
    const out = `root /srv/docker\ndisk ${2 ** 30} ${10 * 2 ** 30}\nimage ${MAIL} sha256:99\nimage ${SIDECAR} missing\ngwbridge 10.213.0.0/26 40\n`;
    const row = nodeCheck({ ...node, ...parseFacts(out, manager) });
    assert.match(
      row.detail,
      /labctl's images: mail differs from the manager, sidecar missing; 1 GiB free in \/srv\/docker; /,
    );
    assert.match(row.detail, /docker_gwbridge 10\.213\.0\.0\/26: 41 of 62 addresses used, room for 10 more students$/);
    assert.equal(row.ok, false);
    assert.match(row.fix ?? '', /images load FILE; free up space in \/srv\/docker; a larger docker_gwbridge/);
  });

  it('a node that is down is listed as such, not asked', () => {
    const row = nodeCheck({ ...node, state: 'down', unknown: 'not asked: the node is down' });
    assert.equal(row.detail, 'worker, down, active, 10.0.0.2; not asked: the node is down');
    assert.match(row.fix ?? '', /bring the node back/);
    assert.equal(row.warning, true);
  });
});
