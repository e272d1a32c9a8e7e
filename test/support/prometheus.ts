/**
 * Parses the Prometheus text exposition format (what etcd serves at /metrics) into a map from
 * series to value. The key is the metric name followed by its label set exactly as printed, e.g.
 * `etcd_server_has_leader` or `grpc_server_handled_total{grpc_code="OK",grpc_method="Range",...}`.
 * Comment and blank lines are skipped; `+Inf`, `-Inf` and `NaN` become the matching numbers; a
 * trailing timestamp, if any, is ignored.
 */
export function parsePrometheusText(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const keyEnd = seriesKeyEnd(line);
    const value = parseValue(line.slice(keyEnd).trim().split(/\s+/)[0] ?? '');
    if (value !== undefined) series.set(line.slice(0, keyEnd), value);
  }
  return series;
}

/** Sums every series of the metric `name` (with or without labels); 0 when there is none. */
export function sumMetric(series: ReadonlyMap<string, number>, name: string): number {
  let total = 0;
  for (const [key, value] of series) {
    if (key === name || key.startsWith(`${name}{`)) total += value;
  }
  return total;
}

// The key ends at the first whitespace after the name, or after the closing brace of the label
// set; label values are quoted and may contain spaces, braces and escaped quotes.
function seriesKeyEnd(line: string): number {
  let i = 0;
  while (i < line.length && line[i] !== '{' && !/\s/.test(line[i]!)) i++;
  if (line[i] !== '{') return i;
  let quoted = false;
  for (i++; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === '}') return i + 1;
  }
  return line.length;
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  if (text === '') return undefined;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}
