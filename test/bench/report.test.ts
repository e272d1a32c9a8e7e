// Unit tests of the bench's reporting pipeline (statistics, formatting, Markdown, SVG, README
// section): pure functions, no etcd. The scenarios themselves run in `npm run bench -- --quick`.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatAdvantage, formatValue } from '../../bench/lib/format.js';
import { toMarkdown } from '../../bench/lib/markdown.js';
import { updateReadme } from '../../bench/lib/readme.js';
import type { BenchRun } from '../../bench/lib/report-types.js';
import { advantage, quantile, summarize } from '../../bench/lib/stats.js';
import { toSvg } from '../../bench/lib/svg.js';

const machine = {
  cpu: 'Test CPU',
  cores: 2,
  memoryGiB: 4,
  os: 'linux test',
  node: 'v20.0.0',
  etcd: '3.4.23',
  etcd3: '1.1.2',
  commit: 'abc1234',
};

function run(overrides: Partial<BenchRun> = {}): BenchRun {
  return {
    generatedAt: '2026-01-02T03:04:05.000Z',
    mode: 'full',
    partial: false,
    machine,
    durationMs: 1000,
    scenarios: [
      {
        id: 'fanout',
        title: 'Fan-out <1,000> & more',
        status: 'ok',
        durationMs: 10,
        params: { subscribers: 1000 },
        metrics: [
          { name: 'deliveries/s', unit: 'ops/s', better: 'higher', primary: true, concord: 2e6, etcd3: 2e5 },
          { name: 'p50', unit: 'ms', better: 'lower', concord: 2, etcd3: 1 },
        ],
        targets: [{ goal: '≥ 5×', actual: '10×', met: true }],
        notes: ['how it was measured'],
      },
      { id: 'lock', title: 'Lock', status: 'error', error: 'boom | bang', durationMs: 5 },
      {
        id: 'config',
        title: 'Config',
        status: 'unavailable',
        unavailable: 'concord.config() missing',
        durationMs: 5,
        params: {},
        metrics: [{ name: 'p50', unit: 'ms', better: 'lower', primary: true, concord: null, etcd3: 3 }],
      },
    ],
    ...overrides,
  };
}

describe('bench statistics', () => {
  test('quantile is nearest-rank and summarize reports p50, p99, min, max and mean', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(quantile(samples, 0.5), 50);
    assert.equal(quantile(samples, 0.99), 99);
    assert.equal(quantile([7], 0.99), 7);
    assert.ok(Number.isNaN(quantile([], 0.5)));
    assert.deepEqual(summarize([3, 1, 2]), { n: 3, p50: 2, p99: 3, mean: 2, min: 1, max: 3 });
    assert.throws(() => summarize([]), /no samples/);
  });

  test('advantage is > 1 when concord is better, whichever way the metric improves', () => {
    assert.equal(advantage(10, 100, 'lower'), 10);
    assert.equal(advantage(100, 10, 'higher'), 10);
    assert.equal(advantage(100, 10, 'lower'), 0.1);
    assert.equal(advantage(null, 10, 'lower'), undefined);
    assert.equal(advantage(0, 10, 'lower'), undefined);
  });
});

describe('bench formatting', () => {
  test('values carry their unit in readable magnitudes', () => {
    assert.equal(formatValue(1.234, 'ms'), '1.23 ms');
    assert.equal(formatValue(1234.5, 'ms'), '1,235 ms');
    assert.equal(formatValue(2_500_000, 'ops/s'), '2.50 M/s');
    assert.equal(formatValue(52_100, 'ops/s'), '52.1 k/s');
    assert.equal(formatValue(1536, 'bytes'), '1.5 KiB');
    assert.equal(formatValue(1000, 'count'), '1,000');
    assert.equal(formatValue(null, 'ms'), '—');
  });

  test('the advantage column says who is better and by how much', () => {
    const metric = { name: 'x', unit: 'ms', better: 'lower' as const };
    assert.equal(formatAdvantage({ ...metric, concord: 1, etcd3: 20 }), '20× better');
    assert.equal(formatAdvantage({ ...metric, concord: 1, etcd3: 2.5 }), '2.5× better');
    assert.equal(formatAdvantage({ ...metric, concord: 2, etcd3: 1 }), '0.50× (etcd3 better)');
    assert.equal(formatAdvantage({ ...metric, concord: 1, etcd3: 1.02 }), '≈ same (1.02×)');
    assert.equal(formatAdvantage({ ...metric, concord: null, etcd3: 1 }), '—');
  });
});

describe('bench reports', () => {
  test('Markdown has a row per metric, failed and unavailable scenarios, targets, notes and the machine', () => {
    const md = toMarkdown(run());
    assert.match(md, /^# concord benchmarks \(full run, 2026-01-02 03:04 UTC\)/);
    assert.match(md, /Test CPU, 2 cores/);
    assert.match(
      md,
      /\| Fan-out <1,000> & more \| deliveries\/s \| 2\.00 M\/s \| 200\.0 k\/s \| 10× better \|/,
    );
    assert.match(md, /\| {2}\| p50 \| 2\.00 ms \| 1\.00 ms \| 0\.50× \(etcd3 better\) \|/);
    assert.match(md, /\| Lock \| \*\*error\*\* \| — \| — \| boom \\\| bang \|/);
    assert.match(md, /\| Config \| p50 \| not available \| 3\.00 ms \| — \|/);
    assert.match(md, /\| Fan-out <1,000> & more \| ≥ 5× \| 10× \| ✅ met \|/);
    assert.match(md, /concord side not available: concord\.config\(\) missing/);
    assert.match(md, /\*\*Fan-out <1,000> & more\*\* \(subscribers=1,000\): how it was measured/);
  });

  test('the SVG escapes text, draws a bar pair per headline metric and flags failures', () => {
    const svg = toSvg(run());
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes('Fan-out &lt;1,000&gt; &amp; more'));
    assert.ok(!svg.includes('<1,000>'));
    // One headline metric with both sides (2 bars) and one with etcd3 only (1 bar), plus 3 legend/background rects.
    assert.equal(svg.match(/<rect /g)?.length, 3 + 2 + 1);
    assert.ok(svg.includes('10× better'));
    assert.ok(svg.includes('error: boom | bang'));
    assert.ok(svg.includes('concord: not available'));
  });

  test('updateReadme replaces only the text between the perf markers, and refuses a README without them', () => {
    const root = mkdtempSync(join(tmpdir(), 'concord-bench-readme-'));
    try {
      const before =
        '# Title\n\n## Performance\n\n<!-- perf:start -->\nold text\n<!-- perf:end -->\n\n## Layout\nkept\n';
      writeFileSync(join(root, 'README.md'), before);
      const results = join(root, 'bench/results');
      mkdirSync(results, { recursive: true });
      writeFileSync(join(results, 'latest.md'), toMarkdown(run()));
      updateReadme(root);
      const after = readFileSync(join(root, 'README.md'), 'utf8');
      assert.ok(after.startsWith('# Title\n\n## Performance\n\n<!-- perf:start -->\n'));
      assert.ok(after.endsWith('<!-- perf:end -->\n\n## Layout\nkept\n'));
      assert.ok(!after.includes('old text'));
      assert.ok(!after.includes('# concord benchmarks'), 'the report title is dropped');
      assert.match(after, /### Targets/);
      assert.match(after, /!\[concord vs plain etcd3, per scenario\]\(bench\/results\/latest\.svg\)/);
      updateReadme(root);
      assert.equal(readFileSync(join(root, 'README.md'), 'utf8'), after, 'running it again changes nothing');

      writeFileSync(join(root, 'README.md'), '# No markers\n');
      assert.throws(() => updateReadme(root), /missing <!-- perf:start -->/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
