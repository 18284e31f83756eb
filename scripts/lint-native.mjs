#!/usr/bin/env node
// The layering rules no formatter sees (STYLE.md rules 4 and 14), checked on the text of the files:
//  - a native/ folder includes only folders at or below its layer (`algo/` never includes `engine/`);
//  - a transport backend never borrows a sibling's folder (`transport/ucx/` never includes `transport/tcp/`;
//    what two backends share goes to `transport/*.h` or `common/`);
//  - in src/, only src/native/addon.ts loads the addon (build/Release/onet.node);
//  - every source file keeps to 120 columns: CMake and shell files, which no formatter covers, and TS/JS, Python
//    and C++, whose formatters leave long string literals and comments as they are (generated files excepted).
// Used by scripts/lint.mjs; alone: `node scripts/lint-native.mjs` prints the findings and exits 1 if any.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Lowest layer first; each folder may include itself and what is listed. tests/ may include anything.
export const MAY_INCLUDE = {
  common: [],
  shm: ['common'],
  reduce: ['common'],
  codec: ['common'],
  transport: ['common', 'shm'],
  algo: ['common', 'shm', 'reduce', 'transport', 'codec'],
  engine: ['common', 'shm', 'reduce', 'transport', 'algo', 'codec'],
};
const BACKENDS = ['tcp', 'ucx', 'mem'];
const MAX_COLUMNS = 120;
const CPP = /\.(cc|h|cu|cuh|inc|cpp|hpp)$/;
const UNFORMATTED = /(^|\/)(CMakeLists\.txt|[^/]+\.cmake|[^/]+\.sh)$|^\.ci\/run$/;
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs|py|pyi|cc|h|cu|cuh|inc|cpp|hpp)$/;
const GENERATED = /^(native\/common\/gen|src\/gen|python\/opennetworks\/_gen)\//;

/** Findings `{file, line, rule, message}` for the given repository-relative paths (others are ignored). */
export function lintNative(root, files) {
  const out = [];
  for (const file of files) {
    if (file.startsWith('native/') && CPP.test(file)) out.push(...includeFindings(file, read(root, file)));
    else if (file.startsWith('src/') && /\.ts$/.test(file) && file !== 'src/native/addon.ts') {
      read(root, file)
        .split('\n')
        .forEach((text, i) => {
          if (/onet\.node|bindings\//.test(text) && !/^\s*(\/\/|\*)/.test(text))
            out.push({
              file,
              line: i + 1,
              rule: 'native-surface',
              message: 'only src/native/addon.ts loads the addon; import it from there',
            });
        });
    }
    if (UNFORMATTED.test(file) || (SOURCE.test(file) && !GENERATED.test(file))) {
      read(root, file)
        .split('\n')
        .forEach((text, i) => {
          if (text.length > MAX_COLUMNS)
            out.push({
              file,
              line: i + 1,
              rule: 'line-length',
              message: `${text.length} columns (at most ${MAX_COLUMNS})`,
            });
        });
    }
  }
  return out;
}

function includeFindings(file, text) {
  const parts = file.split('/'); // native/<layer>/[<backend>/]name
  const layer = parts[1];
  const allowed = MAY_INCLUDE[layer];
  const out = [];
  text.split('\n').forEach((line, i) => {
    const m = /^\s*#\s*include\s+"([^"]+)"/.exec(line);
    if (!m) return;
    const target = m[1].split('/');
    if (target.length < 2) return; // same-folder include
    const [to, sub] = target;
    if (allowed && to !== layer && to in MAY_INCLUDE && !allowed.includes(to))
      out.push({
        file,
        line: i + 1,
        rule: 'include-direction',
        message:
          `native/${layer}/ includes "${m[1]}": ${layer}/ may include only ` +
          `${[layer, ...allowed].map((d) => `${d}/`).join(' ')} (move the shared part down)`,
      });
    if (
      layer === 'transport' &&
      BACKENDS.includes(parts[2]) &&
      to === 'transport' &&
      BACKENDS.includes(sub) &&
      sub !== parts[2]
    )
      out.push({
        file,
        line: i + 1,
        rule: 'backend-borrow',
        message:
          `transport/${parts[2]}/ includes "${m[1]}" from its sibling backend: move what both need to ` +
          `transport/ or common/`,
      });
  });
  return out;
}

const read = (root, file) => readFileSync(join(root, file), 'utf8');

/** Repository-relative paths of tracked and untracked-but-not-ignored files that exist now. */
export function listFiles(root) {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root });
  return [...new Set(String(out).split('\0'))].filter((f) => f && existsSync(join(root, f))).sort();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const found = lintNative(root, listFiles(root));
  for (const f of found) console.log(`${f.file}:${f.line} ${f.rule}: ${f.message}`);
  process.exit(found.length ? 1 : 0);
}
