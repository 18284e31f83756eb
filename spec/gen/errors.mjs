// Emitter for spec/errors.json: the error codes every language shares (docs/protocol.md §7).
//   native/common/gen/errors.h          enum class Code, names and hints by number
//   src/gen/errors.ts                   ERROR_CODES (index = number), ERROR_INFO
//   python/opennetworks/_gen/errors.py  CODES: name -> ErrorCode(number, python class, ...)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = 'spec/errors.json';
const q = (s) => JSON.stringify(s);

/** The codes, checked: unique names, numbers 0..n-1 in order, OK first. */
export function load(root) {
  const { codes } = JSON.parse(readFileSync(join(root, SOURCE), 'utf8'));
  codes.forEach((c, i) => {
    if (c.number !== i) throw new Error(`${SOURCE}: ${c.name} has number ${c.number}; want 0, 1, 2, … in order`);
    if (!/^(OK|E[A-Z]+)$/.test(c.name)) throw new Error(`${SOURCE}: bad code name ${q(c.name)}`);
    if (!/^k[A-Z]\w*$/.test(c.cpp)) throw new Error(`${SOURCE}: ${c.name}: bad C++ enumerator ${q(c.cpp)}`);
    if ((c.python === null) !== (c.name === 'OK')) throw new Error(`${SOURCE}: ${c.name}: only OK has no Python class`);
  });
  if (new Set(codes.map((c) => c.name)).size !== codes.length) throw new Error(`${SOURCE}: duplicate code name`);
  return codes;
}

function cpp(codes) {
  const lines = [
    "// Error codes (spec/errors.json, docs/protocol.md §7). The number is what the slot's status word holds.",
    '#pragma once',
    '#include <cstdint>',
    '',
    'namespace onet {',
    '',
    'enum class Code : int32_t {',
    ...codes.flatMap((c) => [`  // ${c.name}: ${c.meaning}`, `  ${c.cpp} = ${c.number},`]),
    '};',
    '',
    `constexpr int32_t kNumCodes = ${codes.length};`,
    '',
    '// Protocol names ("EMISMATCH") and what-to-do hints, indexed by number.',
    'constexpr const char* kCodeNames[kNumCodes] = {',
    ...codes.map((c) => `    ${q(c.name)},`),
    '};',
    'constexpr const char* kCodeHints[kNumCodes] = {',
    ...codes.map((c) => `    ${q(c.hint)},`),
    '};',
    '',
    'constexpr bool code_known(int32_t n) { return n >= 0 && n < kNumCodes; }',
    '',
    '}  // namespace onet',
    '',
  ];
  return lines.join('\n');
}

function ts(codes) {
  const lines = [
    '// Error codes (spec/errors.json, docs/protocol.md §7). ERROR_CODES[n] is the code whose number is n.',
    '',
    'export const ERROR_CODES = [',
    ...codes.map((c) => `  ${q(c.name)},`),
    '] as const;',
    'export type ErrorCode = (typeof ERROR_CODES)[number];',
    '',
    'export interface ErrorCodeInfo {',
    '  readonly number: number;',
    '  readonly python: string | null;',
    "  readonly channel: 'engine' | 'control';",
    '  readonly meaning: string;',
    '  readonly hint: string;',
    '}',
    '',
    'export const ERROR_INFO: Readonly<Record<ErrorCode, ErrorCodeInfo>> = {',
    ...codes.flatMap((c) => [
      `  ${c.name}: {`,
      `    number: ${c.number}, python: ${q(c.python)}, channel: ${q(c.channel)},`,
      `    meaning: ${q(c.meaning)},`,
      `    hint: ${q(c.hint)},`,
      '  },',
    ]),
    '};',
    '',
    '/** The code whose number is n, or undefined. */',
    'export function codeOfNumber(n: number): ErrorCode | undefined {',
    '  return ERROR_CODES[n];',
    '}',
    '',
    '/** True when s names a code. */',
    'export function isErrorCode(s: unknown): s is ErrorCode {',
    "  return typeof s === 'string' && Object.hasOwn(ERROR_INFO, s);",
    '}',
    '',
  ];
  return lines.join('\n');
}

function py(codes) {
  const tuple = (xs) => (xs.length ? `(${xs.map(q).join(', ')},)` : '()');
  const lines = [
    '"""Error codes (spec/errors.json, docs/protocol.md §7); opennetworks/_errors.py checks its classes."""',
    'from __future__ import annotations',
    '',
    'from typing import NamedTuple',
    '',
    '',
    'class ErrorCode(NamedTuple):',
    '    name: str',
    '    number: int',
    '    python: str | None  # the exception class in opennetworks',
    '    bases: tuple[str, ...]  # extra builtin bases of that class',
    '    channel: str  # "engine": any completion; "control": the control channel only',
    '    meaning: str',
    '    hint: str',
    '',
    '',
    'CODES: dict[str, ErrorCode] = {',
    ...codes.flatMap((c) => [
      `    ${q(c.name)}: ErrorCode(`,
      `        ${q(c.name)}, ${c.number}, ${c.python === null ? 'None' : q(c.python)},`,
      `        ${tuple(c.python_bases)}, ${q(c.channel)},`,
      `        ${q(c.meaning)},`,
      `        ${q(c.hint)}),`,
    ]),
    '}',
    '',
    'BY_NUMBER: dict[int, ErrorCode] = {c.number: c for c in CODES.values()}',
    '',
  ];
  return lines.join('\n');
}

export function outputs(root) {
  const codes = load(root);
  return [
    { path: 'native/common/gen/errors.h', text: cpp(codes), source: SOURCE },
    { path: 'src/gen/errors.ts', text: ts(codes), source: SOURCE },
    { path: 'python/opennetworks/_gen/errors.py', text: py(codes), source: SOURCE },
  ];
}
