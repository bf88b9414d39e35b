/** Exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  conflict: 3,
  engine: 4,
  build: 5,
  notReady: 6,
  changed: 7,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The stable code string of each exit code, printed in JSON errors (`--json`); documented in the README. */
export const ERROR_CODE: Record<ExitCodeValue, string> = {
  0: 'ok',
  1: 'internal',
  2: 'usage',
  3: 'conflict',
  4: 'engine',
  5: 'build',
  6: 'not-ready',
  7: 'changed',
  130: 'interrupted',
};

/** An error meant for the user: what was wrong, and what to do. */
export class LabctlError extends Error {
  /** A stable string for scripts: the exit code's (usage, conflict, engine…) unless a more specific one is given. */
  readonly code: string;

  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    readonly hint?: string,
    code?: string,
  ) {
    super(message);
    this.name = 'LabctlError';
    this.code = code ?? ERROR_CODE[exitCode];
  }
}

export const usageError = (message: string, hint?: string) => new LabctlError(ExitCode.usage, message, hint);
export const conflictError = (message: string, hint?: string, code?: string) =>
  new LabctlError(ExitCode.conflict, message, hint, code);

/** The shape of an error on stdout under `--json`. */
export function errorJson(error: LabctlError): {
  error: { code: string; message: string; hint?: string; exitCode: number };
} {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.hint !== undefined && { hint: error.hint }),
      exitCode: error.exitCode,
    },
  };
}
