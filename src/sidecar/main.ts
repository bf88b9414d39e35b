import v8 from 'node:v8';
import { configFromEnv } from './config.js';
import { createServer } from './server.js';
import { Sidecar } from './sidecar.js';
import { PollLoop } from './wake.js';

/** The verification sidecar: one per student, next to their mail server. */

// The sidecar mostly idles: V8's optimizing compiler (TurboFan) costs it some 5 MiB of RSS after a burst of
// work (measured on 2,000 messages: 60-65 MiB with it, 55 without), for speed it does not need.
v8.setFlagsFromString('--no-opt');
const config = configFromEnv();
const sidecar = new Sidecar(config);
await sidecar.store.load();

// Said in the container's log when it starts and whenever it changes (`up` shows that log when a sidecar fails).
let reported: string | undefined;
const reportProblem = () => {
  const problem = sidecar.store.problem;
  if (problem !== reported) process.stderr.write(`sidecar: ${problem ?? 'progress is saved again'}\n`);
  reported = problem;
};
const loop = new PollLoop({
  poll: async () => {
    try {
      await sidecar.poll();
    } catch (error) {
      process.stderr.write(`sidecar: ${(error as Error).message}\n`);
    } finally {
      reportProblem();
    }
  },
  dirs: sidecar.evidenceDirs(),
  idleMs: config.idlePollMs,
  pollMs: config.pollMs,
});
await loop.start();

const server = createServer(sidecar, { wake: () => loop.wake() }).listen(config.port, () => {
  process.stdout.write(
    `sidecar: student ${config.card.student} of class ${config.card.className} on :${config.port}\n`,
  );
});

const stop = () => {
  loop.stop();
  server.close();
  server.closeAllConnections();
  void sidecar.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
