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
      // A server that drops the connection before it is ready (sshd failing its privilege separation) says so.
      .on('close', () => reject(new Error(`ssh to port ${port} closed before the command ran`)))
      .connect({ host: '127.0.0.1', port, username: user, password, readyTimeout: 10_000, tryKeyboard: false });
  });
}

/** Connects as a student would and hands the open connection to `use`; also gives the server's host key. */
export function sshSession<T>(
  port: number,
  user: string,
  password: string,
  use: (conn: Client, hostKey: string) => Promise<T>,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    let hostKey = '';
    conn
      .on('ready', () => {
        use(conn, hostKey)
          .then(resolve, reject)
          .finally(() => conn.end());
      })
      .on('error', reject)
      .on('close', () => reject(new Error(`ssh to port ${port} closed before it was ready`)))
      .connect({
        host: '127.0.0.1',
        port,
        username: user,
        password,
        readyTimeout: 10_000,
        tryKeyboard: false,
        hostVerifier: (key: Buffer) => {
          hostKey = key.toString('base64');
          return true;
        },
      });
  });
}
