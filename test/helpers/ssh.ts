import { Client } from 'ssh2';

/** Runs one command on an open ssh connection; gives its exit code and output. */
export function sshExec(conn: Client, command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    conn.exec(command, (error, stream) => {
      if (error) return reject(error);
      let stdout = '';
      let stderr = '';
      stream.on('data', (c: Buffer) => (stdout += c.toString()));
      stream.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      stream.on('close', (code: number | null) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  });
}

/** Logs in with a password over ssh, as a student does, and runs one command. */
export function sshRun(
  port: number,
  user: string,
  password: string,
  command: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return sshSession(port, user, password, (conn) => sshExec(conn, command));
}

/** Connects as a student would and hands the open connection to `use`; also gives the server's host key. */
export function sshSession<T>(
  port: number,
  user: string,
  password: string,
  use: (conn: Client, hostKey: string) => Promise<T>,
  host = '127.0.0.1',
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
        host,
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

/**
 * A terminal its student holds and never reads (as with ^S): an ssh login with a pty that runs `yes` and whose
 * client stops reading, so that once the channel's window and the pty's buffer are full, every write to that
 * terminal blocks. Resolves once `yes` writes to it; it is held a moment later, when the buffers are full (a test
 * that needs it held waits for that). `close` logs out.
 */
export function heldTerminal(port: number, user: string, password: string): Promise<{ close: () => void }> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    conn
      .on('ready', () => {
        conn.shell({ term: 'vt100' }, (error, stream) => {
          if (error) return reject(error);
          let seen = 0;
          stream.on('data', (c: Buffer) => {
            seen += c.length;
            // Some output has come: stop reading from here on (ssh2 stops opening the window too).
            if (seen > 4096) {
              stream.pause();
              resolve({ close: () => conn.end() });
            }
          });
          stream.write('yes held\n');
        });
      })
      .on('error', reject)
      .connect({ host: '127.0.0.1', port, username: user, password, readyTimeout: 10_000, tryKeyboard: false });
  });
}
