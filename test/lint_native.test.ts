// scripts/lint-native.mjs: the layering rules (STYLE.md 4 and 14) find what they should, on a scratch tree.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { lintNative } from '../scripts/lint-native.mjs';

const root = mkdtempSync(join(tmpdir(), 'onet-lint-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function lint(files: Record<string, string>) {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return lintNative(root, Object.keys(files)) as { file: string; line: number; rule: string }[];
}

describe('lint-native', () => {
  it('accepts includes that point down or sideways within a layer', () => {
    expect(
      lint({
        'native/algo/a.cc': '#include "algo/steps.h"\n#include "transport/transport.h"\n#include "common/status.h"\n',
        'native/transport/tcp/p.cc': '#include "transport/tcp/pair.h"\n#include "transport/transport.h"\n',
        'native/engine/e.cc': '#include "algo/algo.h"\n#include "engine/lane.h"\n',
        'src/native/addon.ts': "const p = '../../build/Release/onet.node';\n",
      }),
    ).toEqual([]);
  });

  it('finds an include from a lower layer up', () => {
    const found = lint({ 'native/algo/local/local.h': '#pragma once\n#include "engine/plan.h"\n' });
    expect(found).toMatchObject([{ file: 'native/algo/local/local.h', line: 2, rule: 'include-direction' }]);
  });

  it('finds a backend borrowing a sibling backend', () => {
    const found = lint({ 'native/transport/ucx/device.cc': '#include "transport/tcp/socket.h"\n' });
    expect(found).toMatchObject([{ line: 1, rule: 'backend-borrow' }]);
  });

  it('finds the addon loaded outside src/native/addon.ts', () => {
    const found = lint({
      'src/api/x.ts': "// mentions onet.node in a comment only\nrequire('../build/Release/onet.node');\n",
    });
    expect(found).toMatchObject([{ file: 'src/api/x.ts', line: 2, rule: 'native-surface' }]);
  });

  it('finds a CMake line over 120 columns', () => {
    const found = lint({ 'CMakeLists.txt': `set(A 1)\n# ${'x'.repeat(130)}\n` });
    expect(found).toMatchObject([{ file: 'CMakeLists.txt', line: 2, rule: 'line-length' }]);
  });

  it('finds source lines over 120 columns, but not in generated files, JSON or Markdown', () => {
    const long = `'${'x'.repeat(130)}'`;
    const found = lint({
      'src/api/long.ts': `export const a = 1;\nexport const b = ${long};\n`,
      'python/opennetworks/long.py': `B = ${long}\n`,
      'native/common/long.h': `#pragma once\n\n// ${'x'.repeat(130)}\n`,
      'src/gen/long.ts': `export const b = ${long};\n`,
      'python/opennetworks/_gen/long.py': `B = ${long}\n`,
      'native/common/gen/long.h': `// ${'x'.repeat(130)}\n`,
      'spec/long.json': `{"b": ${JSON.stringify('x'.repeat(130))}}\n`,
      'notes/long.md': `${'x'.repeat(130)}\n`,
      'src/api/short.ts': `export const c = '${'x'.repeat(100)}';\n`,
    });
    expect(found.map((f) => `${f.file}:${f.line} ${f.rule}`).sort()).toEqual([
      'native/common/long.h:3 line-length',
      'python/opennetworks/long.py:1 line-length',
      'src/api/long.ts:2 line-length',
    ]);
  });
});
