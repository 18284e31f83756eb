// Emitter for spec/algorithms.json: the one algorithm registry (docs/algorithms.md).
//   native/common/gen/algorithms.h  enum class AlgoId, kAlgorithms[] (name, collective, kind, transports,
//                                   cost formula), kOneShotMaxSentBytes, kDefaultRules[]
//   src/gen/algorithms.ts           ALGORITHMS, CATALOGUE (inter-host names per collective), ONESHOT_MAX_SENT_BYTES,
//                                   DEFAULT_RULES
// Readers: native/algo/algo.cc (names(), dispatch by id), native/algo/hier/ (one-shot limit, default
// rules), native/tests/algo_test.cc (iterates the registry), src/scheduler/costmodel.ts (catalogue,
// formula ids).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = 'spec/algorithms.json';
const q = (s) => JSON.stringify(s);
const IDENT = /^[a-z][a-z0-9_]*$/;
const KINDS = ['inter', 'engine'];

function fail(msg) {
  throw new Error(`${SOURCE}: ${msg}`);
}

/** The registry, checked against spec/enums.json's collectives and itself. */
export function load(root) {
  const spec = JSON.parse(readFileSync(join(root, SOURCE), 'utf8'));
  const colls = new Set(JSON.parse(readFileSync(join(root, 'spec/enums.json'), 'utf8')).collectives.map((c) => c.name));
  const transports = spec.transports;
  const seen = new Set();
  for (const a of spec.algorithms) {
    const id = `${a.collective}_${a.name}`;
    if (!colls.has(a.collective)) fail(`${id}: unknown collective ${q(a.collective)} (spec/enums.json)`);
    if (!IDENT.test(a.name)) fail(`${id}: name ${q(a.name)} is not a lower-case identifier`);
    if (!KINDS.includes(a.kind)) fail(`${id}: kind must be one of ${KINDS.join(', ')}`);
    if (seen.has(id)) fail(`duplicate algorithm ${a.collective}:${a.name}`);
    seen.add(id);
    if (!a.transports.length || a.transports.some((t) => !transports.includes(t)))
      fail(`${id}: transports must be a non-empty subset of ${transports.join(', ')}`);
    if (!a.cost || !IDENT.test(a.cost.formula)) fail(`${id}: cost.formula must be an identifier`);
  }
  const oneshot = spec.algorithms.find((a) => a.collective === 'allreduce' && a.name === 'oneshot');
  if (!Number.isInteger(oneshot?.cost?.params?.maxSentBytes)) fail('allreduce oneshot needs cost.params.maxSentBytes');
  for (const r of spec.defaultRules) {
    const a = spec.algorithms.find((x) => x.collective === r.collective && x.name === r.algo);
    if (a?.kind !== 'inter') fail(`defaultRules: ${r.collective}:${r.algo} is not an inter-host algorithm`);
    if (r.maxBytes !== null && !Number.isInteger(r.maxBytes))
      fail(`defaultRules: ${r.collective} maxBytes must be an integer or null`);
  }
  return spec;
}

function cpp(spec) {
  const algos = spec.algorithms;
  const tbit = (t) => 1 << spec.transports.indexOf(t);
  const mask = (a) => a.transports.map((t) => `kTransport${t[0].toUpperCase()}${t.slice(1)}`).join(' | ');
  const oneshot = algos.find((a) => a.collective === 'allreduce' && a.name === 'oneshot');
  const lines = [
    '// The algorithm registry (spec/algorithms.json, docs/algorithms.md): every inter-host algorithm and every',
    '// engine path the cost model knows. algo::names() and algo::run() dispatch from it; algo_test iterates it.',
    '#pragma once',
    '#include <cstddef>',
    '#include <cstdint>',
    '',
    '#include "common/types.h"',
    '',
    'namespace onet::algo {',
    '',
    'enum class AlgoId : uint32_t {',
    ...algos.map((a, i) => `  ${a.collective}_${a.name} = ${i},`),
    '};',
    `constexpr size_t kNumAlgorithms = ${algos.length};`,
    '',
    '// Where an algorithm runs (mem: the in-process unit-test backend).',
    ...spec.transports.map((t) => `constexpr uint32_t kTransport${t[0].toUpperCase()}${t.slice(1)} = ${tbit(t)};`),
    '',
    'enum class AlgoKind : uint32_t {',
    '  kInter = 0,   // native/algo/<collective>/<name>.cc over net::Comm; algo::run; chosen by size rules',
    '  kEngine = 1,  // a path of the hierarchical engine (native/algo/hier/); not run by algo::run',
    '};',
    '',
    'struct AlgoInfo {',
    '  AlgoId id;',
    '  Coll coll;',
    '  const char* name;',
    '  AlgoKind kind;',
    '  uint32_t transports;',
    '  const char* cost_formula;  // the case in src/scheduler/costmodel.ts',
    '};',
    '',
    'inline constexpr AlgoInfo kAlgorithms[kNumAlgorithms] = {',
    ...algos.map(
      (a) =>
        `    {AlgoId::${a.collective}_${a.name}, Coll::${a.collective}, ${q(a.name)}, ` +
        `AlgoKind::k${a.kind[0].toUpperCase()}${a.kind.slice(1)},\n     ${mask(a)}, ${q(a.cost.formula)}},`,
    ),
    '};',
    '',
    '// The one-shot allreduce runs whenever (hosts − 1) · bytes <= this, before the size rules.',
    `constexpr uint64_t kOneShotMaxSentBytes = ${oneshot.cost.params.maxSentBytes};`,
    '',
    "// The engine's size rules until the scheduler sends its table (max_bytes UINT64_MAX: no bound).",
    'struct DefaultRule {',
    '  Coll coll;',
    '  uint64_t max_bytes;',
    '  const char* algo;',
    '  uint64_t chunk_bytes;',
    '};',
    `inline constexpr DefaultRule kDefaultRules[${spec.defaultRules.length}] = {`,
    ...spec.defaultRules.map((r) => {
      const max = r.maxBytes === null ? 'UINT64_MAX' : `${r.maxBytes}u`;
      return `    {Coll::${r.collective}, ${max}, ${q(r.algo)}, ${r.chunkBytes}u},`;
    }),
    '};',
    '',
    '}  // namespace onet::algo',
    '',
  ];
  return lines.join('\n');
}

function ts(spec) {
  const inter = {};
  for (const a of spec.algorithms) if (a.kind === 'inter') (inter[a.collective] ??= []).push(a.name);
  const oneshot = spec.algorithms.find((a) => a.collective === 'allreduce' && a.name === 'oneshot');
  const lines = [
    '// The algorithm registry (spec/algorithms.json, docs/algorithms.md). src/scheduler/ reads it.',
    '',
    'export interface AlgorithmInfo {',
    '  readonly collective: string;',
    '  readonly name: string;',
    "  readonly kind: 'inter' | 'engine';",
    '  readonly transports: readonly string[];',
    '  readonly formula: string;',
    '  readonly params: Readonly<Record<string, number>>;',
    '}',
    '',
    'export const ALGORITHMS: readonly AlgorithmInfo[] = [',
    ...spec.algorithms.map(
      (a) =>
        `  { collective: ${q(a.collective)}, name: ${q(a.name)}, kind: ${q(a.kind)}, formula: ${q(a.cost.formula)},\n` +
        `    transports: ${q(a.transports)}, params: ${JSON.stringify(a.cost.params ?? {})} },`,
    ),
    '];',
    '',
    '/** The inter-host algorithms per collective, in catalogue order (what ONET_ALGO may force). */',
    'export const CATALOGUE = {',
    ...Object.entries(inter).map(([c, names]) => `  ${c}: [${names.map(q).join(', ')}],`),
    '} as const;',
    '',
    '/** The engine runs allreduce as one round whenever (hosts − 1) · bytes ≤ this, before the size rules. */',
    `export const ONESHOT_MAX_SENT_BYTES = ${oneshot.cost.params.maxSentBytes};`,
    '',
    "/** The engine's size rules until the scheduler sends a table (maxBytes null: no bound). */",
    'export const DEFAULT_RULES = [',
    ...spec.defaultRules.map(
      (r) =>
        `  { coll: ${q(r.collective)}, maxBytes: ${r.maxBytes === null ? 'null' : r.maxBytes}, algo: ${q(r.algo)}, ` +
        `chunkBytes: ${r.chunkBytes} },`,
    ),
    '] as const;',
    '',
  ];
  return lines.join('\n');
}

export function outputs(root) {
  const spec = load(root);
  return [
    { path: 'native/common/gen/algorithms.h', text: cpp(spec), source: SOURCE },
    { path: 'src/gen/algorithms.ts', text: ts(spec), source: SOURCE },
  ];
}
