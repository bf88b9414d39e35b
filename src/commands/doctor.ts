import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { packagePath } from '../paths.js';
import { diagnose, type Check, type HostFacts } from '../core/doctor.js';
import { detectPortForwarding } from '../core/port-proxy.js';
import { bootstrapTool } from '../docker/images/base-image.js';
import { DISKS_DIR } from '../docker/disks.js';
import { remoteEngineHost } from '../docker/net.js';
import { swarmNodeFacts, swarmSurvey } from '../docker/select-engine.js';
import { ExitCode, LabctlError } from '../errors.js';
import { table } from '../ui/tables.js';
import { defaultContext, type Context, type RunOptions } from './context.js';

export type { Check } from '../core/doctor.js';
export { portForwardingCheck } from '../core/doctor.js';

export interface DoctorOptions extends RunOptions {
  fix?: boolean;
}

const SETUP = packagePath('scripts', 'setup-host.sh');

/**
 * What this host says beyond the engine: its bootstrap tool, the disks' folder, Swarm, how ports are forwarded.
 * Ctrl-C (`signal`) removes the jobs that ask the swarm's nodes.
 */
function hostFacts(signal: AbortSignal): HostFacts {
  return {
    bootstrapTool: bootstrapTool(),
    disksDir: DISKS_DIR,
    swarm: () => swarmSurvey(),
    swarmNodes: (images) => swarmNodeFacts(images, undefined, undefined, signal),
    forwarding: () => {
      const dockerHost = process.env.DOCKER_HOST;
      if (remoteEngineHost(dockerHost)) return undefined;
      return detectPortForwarding(dockerHost?.startsWith('unix://') ? dockerHost.slice('unix://'.length) : undefined);
    },
    inotifyInstances: () => {
      if (remoteEngineHost(process.env.DOCKER_HOST)) return undefined;
      try {
        return Number(readFileSync('/proc/sys/fs/inotify/max_user_instances', 'utf8').trim()) || undefined;
      } catch {
        return undefined;
      }
    },
  };
}

function runSetup(signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SETUP], { stdio: ['ignore', 'inherit', 'inherit'], signal });
    child.on('error', () => {}); // the abort's: the exit code says it below
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            signal.aborted
              ? (signal.reason as Error)
              : new LabctlError(ExitCode.engine, `${SETUP} failed (exit ${code}).`, 'Read its output above.'),
          ),
    );
  });
}

/** Checks what labctl needs and says how to fix each thing; --fix installs and starts a Docker engine. */
export async function doctor(options: DoctorOptions, ctx: Context = defaultContext(options)): Promise<Check[]> {
  if (options.fix) {
    if (process.getuid?.() !== 0)
      throw new LabctlError(
        ExitCode.usage,
        '--fix installs packages and needs root.',
        'Run `sudo labctl doctor --fix`.',
      );
    await runSetup(ctx.signal);
  }
  const result = await diagnose(ctx.engine, hostFacts(ctx.signal));
  ctx.signal.throwIfAborted();
  ctx.reporter.result(
    table(
      ['check', 'ok', 'detail', 'how to fix'],
      result.map((c) => [c.check, c.ok ? 'ok' : c.warning ? 'warn' : 'NO', c.detail, c.ok ? '' : (c.fix ?? '')]),
    ),
    result,
  );
  if (result.some((c) => !c.ok && !c.warning && c.check !== 'base image')) process.exitCode = ExitCode.engine;
  return result;
}
