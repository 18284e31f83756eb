#!/usr/bin/env node
// `npm run lint`: every formatter in check mode and every linter, one line per tool, the findings under it;
// exits 1 when any tool found something. `npm run format` (--fix) rewrites layout (formatters, import order)
// and applies the linters' safe fixes (those that cannot change behaviour, e.g. `import type`, unused imports);
// `node scripts/lint.mjs --write` rewrites layout only. Name tools to run a subset: `npm run lint -- ruff biome`;
// --verbose lists every file that needs formatting (else the first 8).
//   biome         TS/JS/CSS: format + lint + import order; JSON: parse (biome.json)
//   ruff          Python: format + lint + import order           (python/pyproject.toml [tool.ruff], ruff.toml)
//   clang-format  C++/CUDA in native/ and bindings/              (.clang-format)
//   layers        include direction, backend isolation, addon surface, line length (scripts/lint-native.mjs)
// JSON is parsed, not reformatted: spec/*.json keep their one-entry-per-line tables. Markdown is prose: left alone.
// Generated files (native/common/gen, src/gen, python/opennetworks/_gen) are left to `npm run gen`, which
// --write runs last: README.md sections copied from the (now formatted) examples follow them.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintNative, listFiles } from './lint-native.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const mode = args.includes('--fix') ? 'fix' : args.includes('--write') ? 'write' : 'check';
const only = args.filter((a) => !a.startsWith('--'));
const verbose = args.includes('--verbose');
const GENERATED = /^(native\/common\/gen|src\/gen|python\/opennetworks\/_gen)\//;
const CPP = /^(native|bindings)\/.*\.(cc|h|cu|cuh|inc|cpp|hpp)$/;

const rel = (p) => (p.startsWith(`${root}/`) ? p.slice(root.length + 1) : p);
const exec = (cmd, argv) => {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
};
const need = (path, how) => {
  if (!existsSync(join(root, path))) throw new Error(`${path} is missing: ${how}`);
  return join(root, path);
};

// Each tool returns { files: [needing `npm run format`], findings: [lines] } in check mode, else { note }.
const TOOLS = {
  biome() {
    const biome = need('node_modules/.bin/biome', 'run `npm install`');
    if (mode !== 'check') {
      const r = exec(biome, ['check', '--write', ...(mode === 'write' ? ['--linter-enabled=false'] : []), '.']);
      if (r.code !== 0 && mode === 'write') throw new Error(r.out.trim());
      return { note: r.out.match(/Fixed \d+ files?/)?.[0] ?? '' };
    }
    const r = exec(biome, ['check', '--reporter=github', '--max-diagnostics=none', '--error-on-warnings', '.']);
    const files = [];
    const findings = [];
    for (const line of r.out.split('\n')) {
      const m = /^::(\w+) title=([^,]+),file=([^,]+),line=(\d+)(?:,endLine=\d+)?,col=(\d+)[^:]*::(.*)$/.exec(line);
      if (!m) continue;
      const [, , title, file, ln, col, msg] = m;
      // Layout and import order are what `npm run format` rewrites: list the file once.
      if (title === 'format' || title.startsWith('assist/')) files.includes(rel(file)) || files.push(rel(file));
      else findings.push(`${rel(file)}:${ln}:${col} ${title.replace(/^lint\//, '')}: ${msg}`);
    }
    if (r.code !== 0 && !files.length && !findings.length) findings.push(r.out.trim());
    return { files, findings };
  },

  ruff() {
    const ruff = need('.venv/bin/ruff', 'run `npm install` (it installs python/[dev]) or `.venv/bin/pip install ruff`');
    if (mode !== 'check') {
      const fix =
        mode === 'fix' ? ['check', '--fix', '--quiet', '.'] : ['check', '--select', 'I', '--fix', '--quiet', '.'];
      exec(ruff, fix); // what it cannot fix, `npm run lint` reports
      const r = exec(ruff, ['format', '.']);
      if (r.code !== 0) throw new Error(r.out.trim());
      return { note: r.out.trim().split('\n').pop() };
    }
    const fmt = exec(ruff, ['format', '--check', '--output-format=concise', '.']);
    const files = [...fmt.out.matchAll(/^(?:Would reformat: (.+)|(\S+?):\d+:\d+: unformatted)/gm)].map(
      (m) => m[1] ?? m[2],
    );
    const lint = exec(ruff, ['check', '--output-format=concise', '--quiet', '.']);
    const findings = [];
    for (const l of lint.out.split('\n')) {
      const m = /^(\S+):\d+:\d+: (\w+)/.exec(l);
      if (m?.[2] === 'I001')
        files.includes(m[1]) || files.push(m[1]); // import order: `npm run format` sorts it
      else if (m) findings.push(l);
    }
    if (lint.code !== 0 && !findings.length) findings.push(lint.out.trim());
    return { files, findings };
  },

  'clang-format'() {
    const bin = existsSync(join(root, `node_modules/clang-format/bin/${process.platform}_${process.arch}/clang-format`))
      ? join(root, `node_modules/clang-format/bin/${process.platform}_${process.arch}/clang-format`)
      : need('node_modules/.bin/clang-format', 'run `npm install`');
    const files = listFiles(root).filter((f) => CPP.test(f) && !GENERATED.test(f));
    if (mode !== 'check') {
      const r = exec(bin, ['-i', '--style=file', ...files]);
      if (r.code !== 0) throw new Error(r.out.trim());
      return { note: `${files.length} files` };
    }
    const bad = [];
    for (const f of files) {
      const r = spawnSync(bin, ['--style=file', f], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
      if (r.status !== 0) throw new Error(`clang-format ${f}: ${r.stderr.trim()}`);
      if (r.stdout !== readFileSync(join(root, f), 'utf8')) bad.push(f);
    }
    return { files: bad, findings: [] };
  },

  gen() {
    const r = exec(process.execPath, [join(root, 'spec', 'generate.mjs')]);
    if (r.code !== 0) throw new Error(r.out.trim());
    const wrote = r.out.split('\n').filter((l) => l.includes('wrote')).length;
    return { note: wrote ? `rewrote ${wrote} generated files` : 'generated files already match' };
  },

  layers() {
    const found = lintNative(
      root,
      listFiles(root).filter((f) => !GENERATED.test(f)),
    );
    return { files: [], findings: found.map((f) => `${f.file}:${f.line} ${f.rule}: ${f.message}`) };
  },
};

const unknown = only.filter((t) => !(t in TOOLS));
if (unknown.length) {
  console.error(`unknown tool ${unknown.join(', ')}; the tools are: ${Object.keys(TOOLS).join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const [name, tool] of Object.entries(TOOLS)) {
  if (only.length && !only.includes(name)) continue;
  if ((mode === 'check' && name === 'gen') || (mode !== 'check' && name === 'layers')) continue;
  const t0 = Date.now();
  const took = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  let r;
  try {
    r = tool();
  } catch (e) {
    failed++;
    console.log(
      `[${mode === 'check' ? 'lint' : 'format'}] ${name.padEnd(12)} ERROR  ${took()}\n  ` +
        `${e.message.replace(/\n/g, '\n  ')}`,
    );
    continue;
  }
  if (mode !== 'check') {
    console.log(`[format] ${name.padEnd(12)} done   ${took()}${r.note ? `  ${r.note}` : ''}`);
    continue;
  }
  const n = r.files.length + r.findings.length;
  if (n) failed++;
  const what = [
    r.files.length && `${r.files.length} files need formatting`,
    r.findings.length && `${r.findings.length} findings`,
  ];
  console.log(
    `[lint] ${name.padEnd(12)} ${n ? 'FAIL' : 'ok  '}   ${took()}${n ? `  ${what.filter(Boolean).join(', ')}` : ''}`,
  );
  if (r.files.length) {
    const shown = verbose ? r.files : r.files.slice(0, 8);
    const more =
      r.files.length - shown.length ? ` and ${r.files.length - shown.length} more (--verbose lists all)` : '';
    console.log(`  needs \`npm run format\`: ${shown.join(' ')}${more}`);
  }
  for (const f of r.findings) console.log(`  ${f}`);
}
if (mode === 'check' && failed)
  console.log(
    '\n`npm run format` fixes layout; the findings above need a code change (or a rule change with a reason).',
  );
process.exit(failed ? 1 : 0);
