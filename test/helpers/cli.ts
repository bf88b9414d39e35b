import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/labctl.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export { BIN };

/** Runs the real CLI the way a user does, off a terminal; `env` adds to the environment (DOCKER_HOST, say). */
export function labctl(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, CI: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function labctlJson<T>(args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const result = await labctl([...args, '--json'], undefined, env);
  if (result.code !== 0) throw new Error(`labctl ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** `labctl up` for a test or benchmark class, published and announced on loopback. */
export function upArgs(className: string, students: number, basePort: number): string[] {
  return [
    'up',
    '--students',
    String(students),
    '--class',
    className,
    '--base-port',
    String(basePort),
    '--host',
    '127.0.0.1',
    '--bind',
    '127.0.0.1',
  ];
}

/**
 * Runs the real CLI and presses Ctrl-C (SIGINT) once `ready` says so (it is asked every 50 ms with the output so
 * far); resolves to the exit code, the output, and how long the command took to end after the signal. Fails when the
 * command ended before it could be interrupted.
 */
export async function labctlCtrlC(
  args: string[],
  ready: (output: { stdout: string; stderr: string }) => Promise<boolean>,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult & { ms: number }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1', ...env },
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (c: Buffer) => (output.stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output.stderr += c.toString()));
  let ended = false;
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  void exited.then(() => (ended = true));
  while (!ended && !(await ready(output))) await new Promise((r) => setTimeout(r, 50));
  if (ended) throw new Error(`labctl ${args.join(' ')} ended before Ctrl-C:\n${output.stdout}${output.stderr}`);
  const sent = Date.now();
  child.kill('SIGINT');
  const code = await exited;
  return { code, ...output, ms: Date.now() - sent };
}
