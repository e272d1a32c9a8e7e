// Regenerates the README's Performance section (between <!-- perf:start --> and
// <!-- perf:end -->) from bench/results/latest.md. `npm run bench` does the same at the end of
// a full run; run this by hand (`npx tsx bench/report.ts`) after changing the report format.
import { fileURLToPath } from 'node:url';
import { updateReadme } from './lib/readme.js';

updateReadme(fileURLToPath(new URL('../', import.meta.url)));
process.stderr.write('README.md: Performance section updated from bench/results/latest.md\n');
