import { Client } from 'ssh2';

/** Logs in with a password over ssh, as a student does, and runs one command. */
export function sshRun(
  port: number,
  user: string,
  password: string,
  command: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    conn
      .on('ready', () => {
        conn.exec(command, (error, stream) => {
          if (error) return reject(error);
          let stdout = '';
          let stderr = '';
          stream.on('data', (c: Buffer) => (stdout += c.toString()));
          stream.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
          stream.on('close', (code: number | null) => {
            conn.end();
            resolve({ code: code ?? -1, stdout, stderr });
          });
        });
      })
      .on('error', reject)
      .connect({ host: '127.0.0.1', port, username: user, password, readyTimeout: 10_000, tryKeyboard: false });
  });
}
