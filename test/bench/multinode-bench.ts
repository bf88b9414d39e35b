/**
 * Benchmark: `labctl up` and `down` of a class on a three-node swarm (test/helpers/swarm-nodes.ts, engines in
 * containers on this machine, driven through the manager's DOCKER_HOST) against the same class on the local engine;
 * then the move of a student with 50 MB of mail, a snapshot of the class, the time from a node's loss to `status`
 * naming it, and `up --replace-lost`.
 * Usage: npm run bench:multinode -- [--students 30] [--runs 1]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { labctl, upArgs } from '../helpers/cli.js';
import { cleanClass } from '../helpers/docker.js';
import { freeBasePort } from '../helpers/ports.js';
import { sshExec, sshSession } from '../helpers/ssh.js';
import { nodeState, startTestSwarm, testSwarmUnavailable } from '../helpers/swarm-nodes.js';

const { values } = parseArgs({
  options: { students: { type: 'string', default: '30' }, runs: { type: 'string', default: '1' } },
});
const students = Number(values.students);
const runs = Number(values.runs);
const CLASS = 'benchmn';
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function must(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const start = performance.now();
  const r = await labctl(args, undefined, env);
  if (r.code !== 0) throw new Error(`labctl ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return performance.now() - start;
}

const skip = testSwarmUnavailable();
if (skip) throw new Error(skip);
const dir = await mkdtemp(path.join(os.tmpdir(), 'labctl-mnbench-'));
const swarmStart = performance.now();
const swarm = await startTestSwarm(3);
const made = performance.now() - swarmStart;
const figures: string[] = [];
const say = (line: string) => {
  figures.push(line);
  console.log(line);
};
try {
  say(`three engines in containers, made a swarm: ${seconds(made)}`);
  const archive = path.join(dir, 'images.tar');
  await must(['images', 'save', '-o', archive]);
  let load = 0;
  for (const node of swarm.nodes) load += await must(['images', 'load', archive], node.env);
  say(`images load into three nodes: ${seconds(load)}`);

  await cleanClass(CLASS);
  const base = await freeBasePort(students);
  const down = ['down', '--class', CLASS, '--purge', '--yes'];
  const t = { localUp: [] as number[], localDown: [] as number[], swarmUp: [] as number[], swarmDown: [] as number[] };
  for (let i = 0; i < runs; i++) {
    t.localUp.push(await must(upArgs(CLASS, students, base)));
    t.localDown.push(await must(down));
    t.swarmUp.push(await must([...upArgs(CLASS, students, base), '--engine', 'swarm'], swarm.env));
    t.swarmDown.push(await must(down, swarm.env));
  }
  const row = (what: string, ms: number[]) =>
    say(`${what.padEnd(34)} median ${seconds(median(ms)).padStart(8)}   (runs: ${ms.map(seconds).join(', ')})`);
  row(`up, ${students} students, local engine`, t.localUp);
  row(`down --purge, local engine`, t.localDown);
  row(`up, ${students} students, three-node swarm`, t.swarmUp);
  row(`down --purge, three-node swarm`, t.swarmDown);

  // The class up again. Student 1 writes 50 MB into their Maildir over ssh, then moves to another node.
  await must([...upArgs(CLASS, students, base), '--engine', 'swarm'], swarm.env);
  const card = JSON.parse(
    (await labctl(['info', '--class', CLASS, '--student', '1', '--json'], undefined, swarm.env)).stdout,
  ) as {
    students: { host: string; ports: { ssh: number } }[];
  };
  const one = card.students[0]!;
  const bulk =
    'mkdir -p ~/Maildir/new && for i in 1 2 3 4 5; do { printf "Subject: gros %s\\n\\n" $i; ' +
    'head -c 7700000 /dev/urandom | base64; } > ~/Maildir/new/bulk$i.lab; done && du -sb ~/Maildir | cut -f1';
  const written = await sshSession(one.ports.ssh, 'util1', 'master2021', (conn) => sshExec(conn, bulk), one.host);
  if (written.code !== 0) throw new Error(`writing the Maildir failed: ${written.stderr}`);
  const target = swarm.nodes.find((n) => n.address !== one.host)!;
  const moveMs = await must(['move', '--class', CLASS, '--student', '1', '--to', target.name], swarm.env);
  say(`move of a student with ${(Number(written.stdout) / 1e6).toFixed(1)} MB of mail: ${seconds(moveMs)}`);
  // Snapshot of every student on the manager.
  say(`snapshot of ${students} students: ${seconds(await must(['snapshot', '--class', CLASS], swarm.env))}`);
  // A node lost with the class up: the time until `status` names it.
  const worker = swarm.nodes[1]!;
  const lostAt = performance.now();
  await worker.stop();
  for (;;) {
    const status = await labctl(['status', '--class', CLASS], undefined, swarm.env);
    if (status.code === 6 && status.stderr.includes(`node ${worker.name} is down`)) break;
    if (performance.now() - lostAt > 180_000) throw new Error(`status never named the lost node:\n${status.stderr}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  say(`from a node's loss to status naming it (${students} students): ${seconds(performance.now() - lostAt)}`);
  // Gone for good, as far as the class knows: its students start elsewhere, from their snapshots.
  const lost = (await labctl(['info', '--class', CLASS, '--json'], undefined, swarm.env)).stdout;
  const moved = (JSON.parse(lost) as { students: { host: string }[] }).students.filter(
    (s) => s.host === worker.address,
  ).length;
  const replaced = await must([...upArgs(CLASS, students, base), '--engine', 'swarm', '--replace-lost'], swarm.env);
  say(`up --replace-lost, ${moved} students restored from their snapshots: ${seconds(replaced)}`);
  await worker.start();
  while ((await nodeState(swarm.manager.docker, worker.name)) !== 'ready')
    await new Promise((r) => setTimeout(r, 1000));
  // The worker came back with the old copies of its students: purge removes those too, on every node.
  say(`down --purge, the worker back with old copies: ${seconds(await must(down, swarm.env))}`);
  const again = await labctl(down, undefined, swarm.env);
  if (!again.stdout.includes('Nothing to remove')) throw new Error(`purge left something:\n${again.stdout}`);
} finally {
  await swarm.remove();
  await rm(dir, { recursive: true, force: true });
  console.log(`\nlabctl multinode benchmark, ${students} students, ${runs} run(s):\n${figures.join('\n')}`);
}
