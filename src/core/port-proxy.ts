import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * How an engine on this machine forwards published ports: through a `docker-proxy` process per port (the userland
 * proxy, Docker's default), or in the kernel (`dockerd --userland-proxy=false`). With the proxy, every client of a
 * student's server shows as the network's gateway.
 */
export interface PortForwarding {
  mode: 'proxy' | 'kernel' | 'unknown';
  /** What the answer rests on, for the user: the flag, the configuration file, or the processes seen. */
  source: string;
  /** docker-proxy processes of that engine, and the memory they hold (resident, in KiB). */
  proxies: number;
  proxyKiB: number;
}

/** What the detection reads of this machine: /proc's process ids and files (tests give a fake one). */
export interface HostView {
  pids(): string[];
  read(file: string): string | undefined;
}

export const hostView: HostView = {
  pids: () => {
    try {
      return readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
      return [];
    }
  },
  read: (file) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  },
};

const DEFAULT_SOCKET = '/var/run/docker.sock';
const DEFAULT_CONFIG = '/etc/docker/daemon.json';

interface Process {
  pid: string;
  argv: string[];
}

/** Go's strconv.ParseBool, which dockerd's flags use. */
function goBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  return undefined;
}

/** Every value of a flag: `--name=v`, `--name v`, and for a one-letter alias `-H v`, `-Hv`. */
function flagValues(argv: string[], name: string, alias?: string): string[] {
  const values: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3));
    else if (arg === `--${name}` || (alias && arg === `-${alias}`)) values.push(argv[++i] ?? '');
    else if (alias && arg.startsWith(`-${alias}`) && !arg.startsWith('--')) values.push(arg.slice(2).replace(/^=/, ''));
  }
  return values;
}

/** Whether dockerd's command line serves the engine's socket: `-H unix://PATH`, `fd://` (systemd), or no -H. */
function serves(dockerd: Process, socket: string): boolean {
  const normal = (file: string) => path.resolve(file).replace(/^\/run\//, '/var/run/');
  const hosts = flagValues(dockerd.argv, 'host', 'H');
  if (hosts.length === 0) return normal(socket) === DEFAULT_SOCKET;
  return hosts.some((h) =>
    h.startsWith('fd://')
      ? normal(socket) === DEFAULT_SOCKET
      : h.startsWith('unix://') && normal(h.slice(7)) === normal(socket),
  );
}

/** The userland-proxy setting of a dockerd: its flag, else its configuration file, else Docker's default (on). */
function proxySetting(dockerd: Process, host: HostView): { on: boolean; source: string } {
  // A boolean flag: `--userland-proxy` or `--userland-proxy=VALUE`, the last one winning.
  const value = dockerd.argv
    .filter((arg) => arg === '--userland-proxy' || arg.startsWith('--userland-proxy='))
    .map((arg) => arg.split('=')[1] ?? 'true')
    .at(-1);
  if (value !== undefined) {
    const on = goBool(value) ?? true;
    return { on, source: `dockerd --userland-proxy=${on}` };
  }
  const config = flagValues(dockerd.argv, 'config-file').at(-1) ?? DEFAULT_CONFIG;
  // dockerd may see another root than ours (a container, a chroot): read the file through its own.
  const text = host.read(`/proc/${dockerd.pid}/root${config}`) ?? host.read(config);
  if (text !== undefined) {
    try {
      const setting = (JSON.parse(text) as Record<string, unknown>)['userland-proxy'];
      if (typeof setting === 'boolean') return { on: setting, source: `"userland-proxy": ${setting} in ${config}` };
    } catch {
      // dockerd refuses to start with a malformed file: this one is not what it read
    }
  }
  return { on: true, source: "Docker's default" };
}

/**
 * Finds the dockerd that serves `socket` (the engine labctl talks to) among this machine's processes, reads how it
 * forwards ports, and counts its docker-proxy children and their memory. Without such a dockerd in sight (another
 * pid namespace, a VM), docker-proxy processes still show the proxy; none shows nothing.
 */
export function detectPortForwarding(socket = DEFAULT_SOCKET, host: HostView = hostView): PortForwarding {
  const processes: Process[] = [];
  for (const pid of host.pids()) {
    const cmdline = host.read(`/proc/${pid}/cmdline`);
    if (cmdline) processes.push({ pid, argv: cmdline.replace(/\0$/, '').split('\0') });
  }
  const named = (name: string) => processes.filter((p) => path.basename(p.argv[0] ?? '') === name);
  const dockerd = named('dockerd').find((p) => serves(p, socket));
  const parent = (pid: string) => /^PPid:\s*(\d+)/m.exec(host.read(`/proc/${pid}/status`) ?? '')?.[1];
  const proxies = named('docker-proxy').filter((p) => !dockerd || parent(p.pid) === dockerd.pid);
  const proxyKiB = proxies.reduce(
    (sum, p) => sum + Number(/^VmRSS:\s*(\d+) kB/m.exec(host.read(`/proc/${p.pid}/status`) ?? '')?.[1] ?? 0),
    0,
  );
  const counted = { proxies: proxies.length, proxyKiB };
  if (dockerd) {
    const { on, source } = proxySetting(dockerd, host);
    return { mode: on ? 'proxy' : 'kernel', source, ...counted };
  }
  if (proxies.length > 0) return { mode: 'proxy', source: `${proxies.length} docker-proxy processes`, ...counted };
  return { mode: 'unknown', source: `no dockerd serving ${socket} in sight`, ...counted };
}
