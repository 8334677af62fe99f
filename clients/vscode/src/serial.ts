// One thing at a time: the server's start, stop and restart are queued, so
// that two quick settings changes cannot start two servers (each start would
// see no client yet and make its own, and one would never be stopped).
//
// No `vscode` import here: unit-tested under plain Node.

export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it has settled. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/**
 * `promise`, or a rejection with `message` when it has not settled within
 * `ms`; a queued start that never ends would hold up every later restart.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
