interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Promises waiting for one outcome (the first value of a config), each abortable by its own signal. */
export class Waiters<T> {
  readonly #waiters = new Set<Waiter<T>>();

  /** A promise settled by the next {@link resolveAll} or {@link rejectAll}, or rejected with the signal's reason. */
  wait(signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter<T> = {
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  resolveAll(value: T): void {
    for (const waiter of this.#take()) waiter.resolve(value);
  }

  rejectAll(err: unknown): void {
    for (const waiter of this.#take()) waiter.reject(err);
  }

  #take(): Waiter<T>[] {
    if (this.#waiters.size === 0) return [];
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    return waiters;
  }
}
