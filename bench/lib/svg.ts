import { formatValue } from './format.js';
import { machineLine } from './machine.js';
import type { BenchRun } from './report-types.js';
import { advantage } from './stats.js';

const WIDTH = 1060;
const LABEL_X = 16;
const BAR_X = 390;
// Room after the longest bar for its value label, before the advantage column.
const BAR_MAX = 330;
const ADVANTAGE_X = WIDTH - 16;
const ROW_HEIGHT = 62;
const TOP = 84;
const COLORS = { concord: '#0f766e', etcd3: '#94a3b8', good: '#15803d', bad: '#b91c1c', muted: '#64748b' };

/**
 * A bar chart of the run, hand-written SVG: one row per headline metric with a concord bar and
 * an etcd3 bar scaled to the larger of the two, the values at the bar ends, and concord's
 * advantage on the right. Rows of scenarios that failed say so in red.
 */
export function toSvg(run: BenchRun): string {
  const rows: string[] = [];
  let y = TOP;
  for (const s of run.scenarios) {
    if (s.status === 'error') {
      rows.push(label(y, s.title, 'failed'));
      rows.push(text(BAR_X, y + 26, `error: ${shorten(s.error ?? 'failed', 70)}`, { fill: COLORS.bad }));
      y += ROW_HEIGHT;
      continue;
    }
    for (const m of (s.metrics ?? []).filter((metric) => metric.primary)) {
      rows.push(label(y, s.title, `${m.name} (${m.better} is better)`));
      const top = Math.max(m.concord ?? 0, m.etcd3 ?? 0);
      const sides = [
        { name: 'concord', value: m.concord, color: COLORS.concord, dy: 6 },
        { name: 'etcd3', value: m.etcd3, color: COLORS.etcd3, dy: 28 },
      ] as const;
      for (const side of sides) {
        const by = y + side.dy;
        if (side.value === null) {
          rows.push(
            text(BAR_X, by + 14, `${side.name}: not available`, { fill: COLORS.muted, italic: true }),
          );
          continue;
        }
        const width = top > 0 ? Math.max(2, (side.value / top) * BAR_MAX) : 2;
        rows.push(
          `<rect x="${BAR_X}" y="${by}" width="${width.toFixed(1)}" height="18" rx="3" fill="${side.color}"/>`,
          text(BAR_X + width + 6, by + 14, `${side.name} ${formatValue(side.value, m.unit)}`, {
            fill: '#0f172a',
          }),
        );
      }
      const ratio = advantage(m.concord, m.etcd3, m.better);
      if (ratio !== undefined) {
        const good = ratio > 1.05;
        const bad = ratio < 0.95;
        const words = good
          ? `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}× better`
          : bad
            ? `${ratio.toFixed(2)}× (worse)`
            : '≈ same';
        rows.push(
          text(ADVANTAGE_X, y + 30, words, {
            fill: good ? COLORS.good : bad ? COLORS.bad : COLORS.muted,
            bold: true,
            anchor: 'end',
            size: 16,
          }),
        );
      }
      y += ROW_HEIGHT;
    }
  }
  const height = y + 48;
  const when = run.generatedAt.slice(0, 16).replace('T', ' ');
  const footer = wrap(`Machine: ${machineLine(run.machine)}`, 150);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(
      LABEL_X,
      30,
      `concord vs plain etcd3 — ${run.mode} run${run.partial ? ' (partial)' : ''}, ${when} UTC`,
      {
        bold: true,
        size: 18,
      },
    ),
    `<rect x="${LABEL_X}" y="46" width="14" height="14" rx="2" fill="${COLORS.concord}"/>`,
    text(LABEL_X + 20, 58, 'concord', {}),
    `<rect x="${LABEL_X + 90}" y="46" width="14" height="14" rx="2" fill="${COLORS.etcd3}"/>`,
    text(LABEL_X + 110, 58, 'plain etcd3', {}),
    text(ADVANTAGE_X, 58, 'concord advantage', { anchor: 'end', fill: COLORS.muted }),
    `<line x1="${LABEL_X}" y1="70" x2="${WIDTH - 16}" y2="70" stroke="#e2e8f0"/>`,
    ...rows,
    ...footer.map((line, i) => text(LABEL_X, y + 22 + i * 15, line, { fill: COLORS.muted, size: 11 })),
    '</svg>',
    '',
  ].join('\n');
}

function label(y: number, title: string, detail: string): string {
  return [
    text(LABEL_X, y + 20, shorten(title, 42), { bold: true }),
    text(LABEL_X, y + 38, shorten(detail, 58), { fill: COLORS.muted, size: 12 }),
  ].join('\n');
}

interface TextStyle {
  fill?: string;
  bold?: boolean;
  italic?: boolean;
  size?: number;
  anchor?: 'start' | 'end';
}

function text(x: number, y: number, content: string, style: TextStyle): string {
  const attrs = [
    `x="${x.toFixed(1)}"`,
    `y="${y}"`,
    style.fill ? `fill="${style.fill}"` : '',
    style.bold ? 'font-weight="bold"' : '',
    style.italic ? 'font-style="italic"' : '',
    style.size ? `font-size="${style.size}"` : '',
    style.anchor ? `text-anchor="${style.anchor}"` : '',
  ].filter(Boolean);
  return `<text ${attrs.join(' ')}>${escapeXml(content)}</text>`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function wrap(s: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of s.split(' ')) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
