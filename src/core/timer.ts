/**
 * Calls `fn` once, when at least `ms` have passed by `performance.now()`; returns a function that
 * cancels it (idempotent). Node arms timers on a whole-millisecond loop clock, so a plain
 * `setTimeout(fn, ms)` can run up to a millisecond before `ms` have passed; a wait that promises
 * "not before `ms`" (the drain timeout, which lets work keep its key that long) re-arms for the rest.
 */
export function afterAtLeast(ms: number, fn: () => void): () => void {
  const due = performance.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const arm = (wait: number) => {
    timer = setTimeout(() => {
      const left = due - performance.now();
      if (left > 0) arm(left);
      else fn();
    }, Math.ceil(wait));
  };
  arm(ms);
  return () => clearTimeout(timer);
}
