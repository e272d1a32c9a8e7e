const started = performance.now();

/** Writes one progress line to stderr, prefixed with the time since the run started. */
export function progress(line: string): void {
  const s = Math.floor((performance.now() - started) / 1000);
  const stamp = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  process.stderr.write(`[${stamp}] ${line}\n`);
}
