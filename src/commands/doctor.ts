import { spawn } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BASE_IMAGE, bootstrapTool } from '../docker/images.js';
import { ExitCode, LabctlError } from '../errors.js';
import { table } from '../ui/tables.js';
import { defaultContext, type Context } from './context.js';

export interface DoctorOptions {
  fix?: boolean;
  json?: boolean;
}

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

const SETUP = fileURLToPath(new URL('../../../scripts/setup-host.sh', import.meta.url));
const MIN_FREE_GIB = 3;

async function checks(ctx: Context): Promise<Check[]> {
  const result: Check[] = [];
  let engineOk = false;
  try {
    await ctx.engine.ping();
    engineOk = true;
    result.push({ check: 'docker engine', ok: true, detail: 'answers' });
  } catch (error) {
    result.push({
      check: 'docker engine',
      ok: false,
      detail: (error as Error).message,
      fix: 'labctl doctor --fix (as root on Debian), or start dockerd',
    });
  }
  const disk = await statfs(engineOk ? '/var/lib/docker' : '/').catch(() => statfs('/'));
  const freeGiB = (disk.bavail * disk.bsize) / 2 ** 30;
  result.push({
    check: 'disk space',
    ok: freeGiB >= MIN_FREE_GIB,
    detail: `${freeGiB.toFixed(1)} GiB free`,
    fix: `free up space: images and 19 students need about ${MIN_FREE_GIB} GiB`,
  });
  const base = engineOk && (await ctx.engine.imageExists(BASE_IMAGE));
  result.push({
    check: 'base image',
    ok: base,
    detail: base ? BASE_IMAGE : `${BASE_IMAGE} missing`,
    fix: 'labctl build (it pulls or bootstraps it)',
  });
  const tool = bootstrapTool();
  result.push({
    check: 'bootstrap tool',
    ok: Boolean(tool) || base,
    detail: tool ?? 'neither mmdebstrap nor debootstrap',
    fix: 'apt-get install mmdebstrap (needed when no registry answers)',
  });
  return result;
}

function runSetup(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SETUP], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new LabctlError(ExitCode.engine, `${SETUP} failed (exit ${code}).`, 'Read its output above.')),
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
        'Run `sudo npx labctl doctor --fix`.',
      );
    await runSetup();
  }
  const result = await checks(ctx);
  ctx.reporter.result(
    table(
      ['check', 'ok', 'detail', 'how to fix'],
      result.map((c) => [c.check, c.ok ? 'ok' : 'NO', c.detail, c.ok ? '' : (c.fix ?? '')]),
    ),
    result,
  );
  if (result.some((c) => !c.ok && c.check !== 'base image')) process.exitCode = ExitCode.engine;
  return result;
}
