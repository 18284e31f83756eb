// Emitter for spec/settings.json and spec/jobid.json (STYLE rule 6): the settings registry, the
// byte-size and duration rules and the job-id rule, as data for every language, plus the README's
// settings table. The readers (src/config/settings.ts, python/opennetworks/_env.py) hold the only
// parsing code; they are tested against the same cases in spec/fixtures/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const KINDS = ['int', 'float', 'seconds', 'bytes', 'string', 'bool', 'enum'];
const COMPONENTS = ['coordinator', 'node', 'python', 'native', 'cli', 'test'];
const AUDIENCES = ['user', 'internal', 'test'];

/** The spec, checked: a mistake names the setting and the field. */
export function loadSpec(root) {
  const spec = JSON.parse(readFileSync(join(root, 'spec/settings.json'), 'utf8'));
  const jobid = JSON.parse(readFileSync(join(root, 'spec/jobid.json'), 'utf8'));
  const seen = new Set();
  const settings = spec.settings.map((s) => {
    const where = `spec/settings.json: ${s.env ?? JSON.stringify(s)}`;
    if (!/^ONET_[A-Z0-9_]+$/.test(s.env ?? '')) throw new Error(`${where}: env must be ONET_[A-Z0-9_]+`);
    if (!/^[a-z][A-Za-z0-9]*$/.test(s.key ?? '')) throw new Error(`${where}: key must be camelCase`);
    for (const k of [s.env, s.key]) {
      if (seen.has(k)) throw new Error(`${where}: ${k} is registered twice`);
      seen.add(k);
    }
    if (!KINDS.includes(s.kind)) throw new Error(`${where}: kind ${s.kind} is not one of ${KINDS.join(', ')}`);
    if ((s.kind === 'enum') !== Array.isArray(s.values)) {
      throw new Error(`${where}: values belong to (and only to) kind enum`);
    }
    if (typeof s.default !== 'string') {
      throw new Error(`${where}: default must be a string (the text a reader parses)`);
    }
    if (!s.components?.length || s.components.some((c) => !COMPONENTS.includes(c))) {
      throw new Error(`${where}: components must be some of ${COMPONENTS.join(', ')}`);
    }
    const audience = s.audience ?? 'user';
    if (!AUDIENCES.includes(audience)) throw new Error(`${where}: audience must be one of ${AUDIENCES.join(', ')}`);
    if (!s.meaning || s.meaning.length < 10) throw new Error(`${where}: give a one-line meaning`);
    const unit = s.unit ?? (s.kind === 'seconds' ? 's' : s.kind === 'bytes' ? 'B' : '');
    return {
      key: s.key,
      env: s.env,
      kind: s.kind,
      values: s.values ?? null,
      unit,
      default: s.default,
      meaning: s.meaning,
      components: s.components,
      audience,
      secret: Boolean(s.secret),
    };
  });
  return { settings, units: spec.units, jobid };
}

const q = (v) => JSON.stringify(v);
const pascal = (key) => key[0].toUpperCase() + key.slice(1);

/** A TypeScript literal in the repository's style: single quotes, bare identifier keys. */
function t(v) {
  if (typeof v === 'string') return `'${JSON.stringify(v).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return `[${v.map(t).join(', ')}]`;
  if (v && typeof v === 'object')
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${tsKey(k)}: ${t(x)}`)
      .join(', ')} }`;
  return String(v);
}
const tsKey = (k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : t(k));

/** A long string literal cut at spaces into quoted pieces of at most `width` characters. */
function pieces(s, width, lit = q) {
  const out = [];
  let cur = '';
  for (const w of s.split(/(?<= )/)) {
    if (cur && lit(cur + w).length > width) {
      out.push(cur);
      cur = '';
    }
    cur += w;
  }
  out.push(cur);
  return out.map(lit);
}

/** An object literal, one entry per line (keeps generated lines short). */
function lines(obj, lit, key = q) {
  return `{\n${Object.entries(obj)
    .map(([k, v]) => `  ${key(k)}: ${lit(v)},`)
    .join('\n')}\n}`;
}

function ts({ settings, units, jobid }) {
  const rows = settings.map((s) =>
    [
      `  ${s.key}: {`,
      `    env: ${t(s.env)}, kind: ${t(s.kind)}, def: ${t(s.default)}, unit: ${t(s.unit)},`,
      `    values: ${s.values ? q(s.values) : 'null'},`,
      `    components: ${t(s.components)}, audience: ${t(s.audience)}, secret: ${s.secret},`,
      `    meaning: ${pieces(s.meaning, 100, t).join(' +\n      ')},`,
      '  },',
    ].join('\n'),
  );
  const e = units.errors;
  const src = jobid.sources.map((s) => `    { env: ${t(s.env)}, joiner: ${t(s.joiner ?? '')}, mode: ${t(s.mode)} },`);
  return `// Settings, units and the job-id rule (spec/settings.json, spec/jobid.json). Read them through
// src/config/settings.ts.

export type SettingKind = ${KINDS.map(t).join(' | ')};
export type SettingComponent = ${COMPONENTS.map(t).join(' | ')};

export interface SettingSpec {
  env: string;
  kind: SettingKind;
  /** The text parsed when the variable is unset or empty ("" = unset: the reader derives a value). */
  def: string;
  unit: string;
  values: readonly string[] | null;
  components: readonly SettingComponent[];
  audience: 'user' | 'internal' | 'test';
  secret: boolean;
  meaning: string;
}

export const SETTINGS = {
${rows.join('\n')}
} as const satisfies Record<string, SettingSpec>;

/** Multiplier per byte unit, lower-cased (IEC: KiB and bare k; SI: kB). */
export const BYTE_UNITS: Readonly<Record<string, number>> = ${lines(units.bytes.units, t, tsKey)};
export const BYTE_EXAMPLES: readonly string[] = ${t(units.bytes.examples)};
/** Seconds per duration unit, lower-cased; a bare number is seconds. */
export const SECONDS_UNITS: Readonly<Record<string, number>> = ${lines(units.seconds.units, t, tsKey)};
export const SECONDS_EXAMPLES: readonly string[] = ${t(units.seconds.examples)};
export const BOOL_TRUE: readonly string[] = ${t(units.bool.true)};
export const BOOL_FALSE: readonly string[] = ${t(units.bool.false)};
export const ERROR_FORMAT = ${t(e.format)};
export const ENUM_ERROR_FORMAT = ${t(e.enumFormat)};
export const ERROR_WHAT: Readonly<Record<string, string>> = ${lines(e.what, t, tsKey)};
export const ERROR_EXAMPLES: Readonly<Record<string, readonly string[]>> = ${lines(e.examples, t, tsKey)};

export const JOB_ID = {
  pattern: ${t(jobid.pattern)},
  allowed: ${t(jobid.allowed)},
  maxLength: ${jobid.maxLength},
  replacement: ${t(jobid.replacement)},
  skipValues: ${t(jobid.skipValues)} as readonly string[],
  sources: [
${src.join('\n')}
  ] as readonly { env: readonly string[]; joiner: string; mode: 'explicit' | 'sanitise' }[],
  fallback: ${t(jobid.fallback)},
  error:
    ${pieces(jobid.error, 100, t).join(' +\n    ')},
};
`;
}

function pyLiteral(v) {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `(${v.map(pyLiteral).join(', ')}${v.length === 1 ? ',' : ''})`;
  if (typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${q(k)}: ${pyLiteral(x)}`)
      .join(', ')}}`;
  return q(v);
}

function py({ settings, units, jobid }) {
  const rows = settings.map((s) =>
    [
      `    ${q(s.env)}: Setting(`,
      `        key=${q(s.key)}, env=${q(s.env)}, kind=${q(s.kind)}, default=${q(s.default)}, unit=${q(s.unit)},`,
      `        values=${pyLiteral(s.values)},`,
      `        components=${pyLiteral(s.components)}, audience=${q(s.audience)}, secret=${pyLiteral(s.secret)},`,
      `        meaning=(${pieces(s.meaning, 100).join('\n                 ')})),`,
    ].join('\n'),
  );
  const e = units.errors;
  const src = jobid.sources.map((s) => `    ${pyLiteral({ env: s.env, joiner: s.joiner ?? '', mode: s.mode })},`);
  return `"""Settings, units and the job-id rule (spec/settings.json, spec/jobid.json).

Read them through opennetworks._env.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple


class Setting(NamedTuple):
    key: str
    env: str
    kind: str
    default: str
    unit: str
    values: Optional[Tuple[str, ...]]
    components: Tuple[str, ...]
    audience: str
    secret: bool
    meaning: str


# fmt: off
SETTINGS: dict[str, Setting] = {
${rows.join('\n')}
}

BYTE_UNITS: dict[str, int] = ${lines(units.bytes.units, pyLiteral)}
BYTE_EXAMPLES = ${pyLiteral(units.bytes.examples)}
SECONDS_UNITS: dict[str, float] = ${lines(units.seconds.units, pyLiteral)}
SECONDS_EXAMPLES = ${pyLiteral(units.seconds.examples)}
BOOL_TRUE = ${pyLiteral(units.bool.true)}
BOOL_FALSE = ${pyLiteral(units.bool.false)}
ERROR_FORMAT = ${q(e.format)}
ENUM_ERROR_FORMAT = ${q(e.enumFormat)}
ERROR_WHAT: dict[str, str] = ${lines(e.what, pyLiteral)}
ERROR_EXAMPLES: dict[str, tuple] = ${lines(e.examples, pyLiteral)}

JOB_ID_PATTERN = ${q(jobid.pattern)}
JOB_ID_ALLOWED = ${q(jobid.allowed)}
JOB_ID_MAX_LENGTH = ${jobid.maxLength}
JOB_ID_REPLACEMENT = ${q(jobid.replacement)}
JOB_ID_SKIP_VALUES = ${pyLiteral(jobid.skipValues)}
JOB_ID_SOURCES = (
${src.join('\n')}
)
JOB_ID_FALLBACK = ${q(jobid.fallback)}
JOB_ID_ERROR = (${pieces(jobid.error, 100).join('\n                ')})
# fmt: on
`;
}

function header({ settings }) {
  const rows = settings.map((s) => `inline constexpr Setting k${pascal(s.key)}{${q(s.env)}, ${q(s.default)}};`);
  return `// Every setting's environment variable and default (spec/settings.json), for native code that
// reads the environment itself: std::getenv(onet::gen::settings::kSimd.env).
#pragma once

namespace onet::gen::settings {

struct Setting {
  const char* env;
  const char* def;  // the text parsed when unset; "" = derived by the reader
};

${rows.join('\n')}

}  // namespace onet::gen::settings
`;
}

const BEGIN = '<!-- settings:begin -->';
const END = '<!-- settings:end -->';
const cell = (t) => String(t).replace(/\|/g, '\\|');

/** The README with only the region between the settings markers replaced. */
function readme(root, { settings, units }) {
  const path = join(root, 'README.md');
  const text = readFileSync(path, 'utf8');
  const a = text.indexOf(BEGIN),
    b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md lacks the ${BEGIN} … ${END} markers around the settings table`);
  const user = settings.filter((s) => s.audience === 'user');
  const kind = (s) =>
    s.kind === 'enum' ? s.values.join(' \\| ') : s.unit && s.kind === 'int' ? `int (${s.unit})` : s.kind;
  const dflt = (s) => (s.default ? `\`${cell(s.default)}\`` : '');
  const region = [
    BEGIN,
    '<!-- generated by spec/generate.mjs from spec/settings.json: edit the spec, then `npm run gen` -->',
    'Every setting is an environment variable, registered once in `spec/settings.json` and generated',
    'for TypeScript, Python and C++; `onet config` prints each one with its current value and which',
    'parts read it (coordinator, node = the Node API, python, native, cli).',
    '',
    '| variable | kind | default | read by | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...user.map((s) => `| \`${s.env}\` | ${kind(s)} | ${dflt(s)} | ${s.components.join(', ')} | ${cell(s.meaning)} |`),
    '',
    `**Byte sizes.** ${cell(units.bytes.$comment)}`,
    '',
    `**Durations.** ${cell(units.seconds.$comment)}`,
    '',
    `**Booleans.** ${units.bool.true.join(', ')} or ${units.bool.false.join(', ')} (any case).`,
    END,
  ].join('\n');
  return text.slice(0, a) + region + text.slice(b + END.length);
}

export function outputs(root) {
  const spec = loadSpec(root);
  const source = 'spec/settings.json and spec/jobid.json (emitter spec/gen/settings.mjs)';
  return [
    { path: 'src/gen/settings.ts', text: ts(spec), source },
    { path: 'python/opennetworks/_gen/settings.py', text: py(spec), source },
    { path: 'native/common/gen/settings.h', text: header(spec), source },
    { path: 'README.md', text: readme(root, spec), raw: true },
  ];
}
