#!/usr/bin/env node
// `npm test`: every suite — vitest (TypeScript, addon, cross-process) then pytest (python/).
// Prints one closing line "N passed, N failed, N skipped" over both, exits non-zero on failure.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(join(tmpdir(), 'onet-test-'));
const extra = process.argv.slice(2);
let passed = 0,
  failed = 0,
  skipped = 0,
  rc = 0;

const vJson = join(out, 'vitest.json');
const v = spawnSync(
  join(root, 'node_modules/.bin/vitest'),
  ['run', '--reporter=default', '--reporter=json', `--outputFile=${vJson}`, ...extra],
  { cwd: root, stdio: 'inherit' },
);
if (existsSync(vJson)) {
  const r = JSON.parse(readFileSync(vJson, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests || 0);
} else failed += 1;
if (v.status !== 0) rc = 1;

const py = join(root, '.venv/bin/python');
if (existsSync(join(root, 'python/tests')) && !extra.length) {
  const xml = join(out, 'pytest.xml');
  const p = spawnSync(py, ['-m', 'pytest', '-q', 'python/tests', `--junitxml=${xml}`], { cwd: root, stdio: 'inherit' });
  if (existsSync(xml)) {
    const head = readFileSync(xml, 'utf8').match(/<testsuite [^>]*>/)?.[0] ?? '';
    const num = (k) => Number(head.match(new RegExp(`${k}="(\\d+)"`))?.[1] ?? 0);
    const f = num('failures') + num('errors');
    const s = num('skipped');
    passed += num('tests') - f - s;
    failed += f;
    skipped += s;
  } else failed += 1;
  if (p.status !== 0 && p.status !== 5) rc = 1;
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(rc || (failed ? 1 : 0));
