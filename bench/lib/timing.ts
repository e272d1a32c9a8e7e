/**
 * Waits for numbered deliveries: `expect(i)` arms a wait for delivery `i`, `arrived(i)` (called
 * by the subscriber, synchronously in its callback) records the arrival time, so the sample
 * ends when the data reached user code, not when a promise continuation ran later.
 */
export class Arrivals {
  private readonly waiting = new Map<number, { resolve: (at: number) => void; count: number }>();

  /** Resolves with the time (performance.now()) at which delivery `id` arrived `count` times. */
  expect(id: number, count = 1): Promise<number> {
    return new Promise((resolve) => this.waiting.set(id, { resolve, count }));
  }

  /** Records one arrival of `id`; unknown ids (warm-up leftovers, other rounds) are ignored. */
  arrived(id: number): void {
    const entry = this.waiting.get(id);
    if (!entry) return;
    entry.count--;
    if (entry.count > 0) return;
    this.waiting.delete(id);
    entry.resolve(performance.now());
  }
}
