import { formatAdvantage, formatValue } from './format.js';
import { machineLine } from './machine.js';
import type { BenchRun } from './report-types.js';

/**
 * The run as Markdown: machine, one table row per metric (concord, etcd3, advantage), the
 * targets from the issues with met/missed, and the notes that say how each figure was taken.
 * Starts with an H1 that report.ts drops when it embeds the rest in the README.
 */
export function toMarkdown(run: BenchRun): string {
  const lines: string[] = [];
  const when = run.generatedAt.slice(0, 16).replace('T', ' ');
  const events = run.eventsSubscriber ? ', every Concord with an events$ subscriber' : '';
  lines.push(
    `# concord benchmarks (${run.mode} run${run.partial ? ', partial' : ''}${events}, ${when} UTC)`,
    '',
  );
  lines.push(`Machine: ${machineLine(run.machine)}.`, '');
  lines.push(
    'Every scenario runs concord and the plain etcd3 way of doing the same job against the same etcd, in alternating rounds. "Advantage" is how many times better concord did (lower time or memory, higher throughput).',
    '',
  );
  lines.push('| Scenario | Metric | concord | etcd3 | Advantage |', '|---|---|--:|--:|---|');
  for (const s of run.scenarios) {
    if (s.status === 'error') {
      lines.push(`| ${s.title} | **error** | — | — | ${cell(s.error ?? 'failed')} |`);
      continue;
    }
    for (const [i, m] of (s.metrics ?? []).entries()) {
      const label = i === 0 ? s.title : '';
      const concord = m.concord === null && s.unavailable ? 'not available' : formatValue(m.concord, m.unit);
      lines.push(
        `| ${label} | ${m.name} | ${concord} | ${formatValue(m.etcd3, m.unit)} | ${formatAdvantage(m)} |`,
      );
    }
  }
  const targets = run.scenarios.flatMap((s) => (s.targets ?? []).map((t) => ({ scenario: s.title, ...t })));
  if (targets.length > 0) {
    lines.push('', '## Targets', '', '| Scenario | Target | This run | |', '|---|---|---|---|');
    for (const t of targets) {
      lines.push(
        `| ${t.scenario} | ${cell(t.goal)} | ${cell(t.actual)} | ${t.met ? '✅ met' : '❌ missed'} |`,
      );
    }
  }
  const notes = run.scenarios.flatMap((s) => {
    const items = [
      ...(s.unavailable ? [`concord side not available: ${s.unavailable}`] : []),
      ...(s.notes ?? []),
    ];
    const params = Object.entries(s.params ?? {})
      .map(([k, v]) => `${k}=${typeof v === 'number' ? v.toLocaleString('en-US') : v}`)
      .join(', ');
    return items.length === 0 && !params
      ? []
      : [`- **${s.title}**${params ? ` (${params})` : ''}: ${items.join(' ')}`];
  });
  if (notes.length > 0) lines.push('', '## How each figure was taken', '', ...notes);
  lines.push('');
  return lines.join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
