/** What the core needs to tell people while it works; the ui's Reporter is one. */
export interface Feedback {
  info(message: string): void;
  warn(message: string): void;
  /** Runs fn while showing `text`; `update` refines it, `done` words the end. */
  task<T>(text: string, fn: (update: (text: string) => void) => Promise<T>, done?: (result: T) => string): Promise<T>;
}
