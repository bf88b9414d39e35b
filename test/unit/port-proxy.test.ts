import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { portForwardingCheck } from '../../src/commands/doctor.js';
import { detectPortForwarding, type HostView } from '../../src/core/port-proxy.js';

interface FakeProcess {
  argv: string[];
  ppid?: number;
  rssKiB?: number;
}

/** A /proc with these processes (by pid) and these other files. */
function fakeHost(processes: Record<number, FakeProcess>, files: Record<string, string> = {}): HostView {
  const all: Record<string, string> = { ...files };
  for (const [pid, p] of Object.entries(processes)) {
    all[`/proc/${pid}/cmdline`] = `${p.argv.join('\0')}\0`;
    all[`/proc/${pid}/status`] = `Name:\t${p.argv[0]}\nPPid:\t${p.ppid ?? 1}\nVmRSS:\t    ${p.rssKiB ?? 0} kB\n`;
  }
  return { pids: () => [...Object.keys(processes), 'self'].filter((p) => /^\d+$/.test(p)), read: (f) => all[f] };
}

const proxy = (ppid: number, port: number): FakeProcess => ({
  argv: ['/usr/sbin/docker-proxy', '-proto', 'tcp', '-host-ip', '0.0.0.0', '-host-port', String(port)],
  ppid,
  rssKiB: 3440,
});

describe('how the engine forwards published ports (doctor)', () => {
  it("reads dockerd's --userland-proxy flag", () => {
    const off = fakeHost({ 90: { argv: ['dockerd', '--default-address-pool', 'x', '--userland-proxy=false'] } });
    assert.deepEqual(detectPortForwarding(undefined, off), {
      mode: 'kernel',
      source: 'dockerd --userland-proxy=false',
      proxies: 0,
      proxyKiB: 0,
    });
    const zero = fakeHost({ 90: { argv: ['/usr/bin/dockerd', '--userland-proxy=0'] } });
    assert.equal(detectPortForwarding(undefined, zero).mode, 'kernel');
    // A boolean flag alone is true, and takes no value after it.
    const bare = fakeHost({ 90: { argv: ['dockerd', '--userland-proxy', '--debug'] } });
    assert.equal(detectPortForwarding(undefined, bare).mode, 'proxy');
  });

  it("else its daemon.json, read through dockerd's own root, and its --config-file", () => {
    const json = fakeHost(
      { 90: { argv: ['dockerd', '-H', 'fd://', '--containerd=/run/containerd/containerd.sock'] } },
      { '/proc/90/root/etc/docker/daemon.json': '{ "userland-proxy": false, "log-driver": "local" }' },
    );
    assert.deepEqual(detectPortForwarding(undefined, json), {
      mode: 'kernel',
      source: '"userland-proxy": false in /etc/docker/daemon.json',
      proxies: 0,
      proxyKiB: 0,
    });
    const other = fakeHost(
      { 90: { argv: ['dockerd', '--config-file=/srv/docker.json'] } },
      { '/srv/docker.json': '{"userland-proxy": true}', '/etc/docker/daemon.json': '{"userland-proxy": false}' },
    );
    assert.equal(detectPortForwarding(undefined, other).mode, 'proxy');
  });

  it("else Docker's default, the proxy: its docker-proxy children and their memory are counted", () => {
    const host = fakeHost({
      90: { argv: ['dockerd'] },
      91: proxy(90, 10125),
      92: proxy(90, 10110),
      // Another engine's proxy (a second dockerd on its own socket) is not this engine's cost.
      95: { argv: ['dockerd', '-H', 'unix:///run/test-docker.sock', '--userland-proxy=false'] },
      96: proxy(77, 20125),
    });
    assert.deepEqual(detectPortForwarding(undefined, host), {
      mode: 'proxy',
      source: "Docker's default",
      proxies: 2,
      proxyKiB: 6880,
    });
    // Asked about the other engine's socket, the other dockerd answers.
    assert.equal(detectPortForwarding('/run/test-docker.sock', host).mode, 'kernel');
  });

  it('without a dockerd in sight, docker-proxy processes still tell; nothing tells nothing', () => {
    const proxies = fakeHost({ 91: proxy(1, 10125), 92: proxy(1, 10110), 93: { argv: ['sshd'] } });
    const seen = detectPortForwarding(undefined, proxies);
    assert.equal(seen.mode, 'proxy');
    assert.equal(seen.proxies, 2);
    assert.equal(detectPortForwarding(undefined, fakeHost({ 93: { argv: ['sshd'] } })).mode, 'unknown');
    // A dockerd that serves only another socket is not the engine's.
    const elsewhere = fakeHost({ 90: { argv: ['dockerd', '-H', 'tcp://0.0.0.0:2375', '--userland-proxy=false'] } });
    assert.equal(detectPortForwarding(undefined, elsewhere).mode, 'unknown');
  });

  it('doctor warns about the proxy, with its cost, and does not fail', () => {
    const on = portForwardingCheck({ mode: 'proxy', source: "Docker's default", proxies: 10, proxyKiB: 10 * 3440 });
    assert.equal(on.ok, false);
    assert.equal(on.warning, true);
    assert.match(on.detail, /every client shows as its network's gateway/);
    assert.match(on.detail, /10 docker-proxy processes hold 33\.6 MiB, 16\.8 MiB per student/);
    assert.match(on.fix ?? '', /--userland-proxy=false/);
    const idle = portForwardingCheck({ mode: 'proxy', source: "Docker's default", proxies: 0, proxyKiB: 0 });
    assert.match(idle.detail, /about 17 MiB of docker-proxy per student/);
    const off = portForwardingCheck({
      mode: 'kernel',
      source: 'dockerd --userland-proxy=false',
      proxies: 0,
      proxyKiB: 0,
    });
    assert.equal(off.ok, true);
    assert.match(off.detail, /own addresses.*another Docker network cannot reach/);
    assert.equal(portForwardingCheck(undefined).ok, true);
  });
});
