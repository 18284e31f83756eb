// The one contract: every generated file (src/gen/, python/opennetworks/_gen/, native/common/gen/,
// the README's generated regions) matches spec/ as the emitters in spec/gen/ write it today.
// Generic over emitters: a new spec/gen/<topic>.mjs is checked here without touching this file.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..');

describe('generated files', () => {
  it('are up to date with spec/ (otherwise: npm run gen, and commit the result)', () => {
    const gen = join(ROOT, 'spec/generate.mjs');
    const r = spawnSync(process.execPath, [gen, '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});
