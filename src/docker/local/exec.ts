import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { ExecResult } from '../engine.js';
import { failed } from '../errors.js';
import { until } from '../retry.js';
import { readAll, streamEnded } from '../streams.js';

/** Runs a command in a container, as root unless told. */
export async function exec(docker: Docker, name: string, cmd: string[], user?: string): Promise<ExecResult> {
  try {
    const run = await docker
      .getContainer(name)
      .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, User: user ?? '' });
    const stream = await run.start({ hijack: true, stdin: false });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on('data', (c: Buffer) => out.push(c));
    stderr.on('data', (c: Buffer) => err.push(c));
    docker.modem.demuxStream(stream, stdout, stderr);
    await streamEnded(stream);
    const info = await run.inspect();
    return {
      exitCode: info.ExitCode ?? -1,
      stdout: Buffer.concat(out).toString(),
      stderr: Buffer.concat(err).toString(),
    };
  } catch (error) {
    throw failed(`run ${cmd.join(' ')} in ${name}`, error);
  }
}

/** Runs `cmd`, streaming its output; with `stdin`, the command's stdin stays open until the stream ends or aborts. */
export async function execStream(
  docker: Docker,
  name: string,
  cmd: string[],
  onOutput: (chunk: string) => void,
  signal?: AbortSignal,
  stdin = false,
): Promise<number> {
  try {
    const run = await docker
      .getContainer(name)
      .exec({ Cmd: cmd, AttachStdin: stdin, AttachStdout: true, AttachStderr: true });
    const stream = await run.start({ hijack: true, stdin });
    const out = new PassThrough();
    out.setEncoding('utf8');
    out.on('data', onOutput);
    docker.modem.demuxStream(stream, out, out);
    await streamEnded(stream, signal);
    if (signal?.aborted) {
      // The command sees its stdin close and stops: wait for that, so nothing it started outlives the call.
      if (stdin) await until(async () => !(await run.inspect()).Running, { timeoutMs: 5000, intervalMs: 50 });
      return 0;
    }
    return (await run.inspect()).ExitCode ?? -1;
  } catch (error) {
    throw failed(`run ${cmd.join(' ')} in ${name}`, error);
  }
}

/** A file or directory of a container, as a tar archive. */
export async function archive(docker: Docker, name: string, path: string): Promise<Buffer> {
  try {
    return await readAll(await docker.getContainer(name).getArchive({ path }));
  } catch (error) {
    throw failed(`copy ${path} out of ${name}`, error);
  }
}
