import { Reporter } from '../ui/reporter.js';

/** How cli.ts says what went wrong, and that a stop is under way: through the Reporter, as every command does. */
export function reportFailure(error: { message: string; hint?: string }, json: unknown, asJson: boolean): void {
  new Reporter({ json: asJson }).failure(error, json);
}

export function reportInfo(message: string): void {
  new Reporter().info(message);
}
