/** Exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  conflict: 3,
  engine: 4,
  build: 5,
  notReady: 6,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error meant for the user: what was wrong, and what to do. */
export class LabctlError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'LabctlError';
  }
}

export const usageError = (message: string, hint?: string) => new LabctlError(ExitCode.usage, message, hint);
export const conflictError = (message: string, hint?: string) => new LabctlError(ExitCode.conflict, message, hint);
