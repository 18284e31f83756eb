// Emitter for spec/enums.json: the wire enums every language shares (docs/protocol.md §3, §5).
//   native/common/gen/enums.h          enum class Coll/DType/RedOp, X-macros, tables, busbw_factor()
//   src/gen/enums.ts                   COLL, DTYPES, REDOPS, DTYPE_ARRAY, RANK_KINDS, busbwFactor()
//   python/opennetworks/_gen/enums.py  COLLS, DTYPES, REDOPS, framework dtype maps, bus_factor()
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = 'spec/enums.json';
const q = (s) => JSON.stringify(s);
const sq = (s) => `'${s}'`; // TS string literal of a plain name
const IDENT = /^[a-z][a-z0-9_]*$/;

// busbw = algbw × factor (nccl-tests); every formula is 1 when P <= 1.
const FORMULA = {
  twice_ring: { cpp: '2.0 * (P - 1) / P', ts: '(2 * (P - 1)) / P', py: '2 * (P - 1) / P' },
  ring: { cpp: 'double(P - 1) / P', ts: '(P - 1) / P', py: '(P - 1) / P' },
  one: { cpp: '1.0', ts: '1', py: '1.0' },
};

/** items joined by sep into lines of at most `width` columns, each starting with `indent`. */
export function wrap(items, { indent = '  ', sep = ', ', width = 118 } = {}) {
  const lines = [];
  let cur = '';
  for (const it of items) {
    const next = cur ? `${cur}${sep.trimEnd()} ${it}` : it;
    if (cur && indent.length + next.length > width) {
      lines.push(indent + cur + sep.trimEnd());
      cur = it;
    } else cur = next;
  }
  if (cur) lines.push(indent + cur);
  return lines;
}
/** A C macro body over several lines, each continued with a backslash. */
export function macro(head, items) {
  const body = wrap(items, { sep: ' ', width: 114 });
  return [`${head} \\`, ...body.map((l, i) => (i < body.length - 1 ? `${l} \\` : l))];
}
/** A braced C++ initializer or enum body: `head {` … `};`. */
const braced = (head, items) => [`${head} {`, ...wrap(items), '};'];

function fail(msg) {
  throw new Error(`${SOURCE}: ${msg}`);
}

function unique(list, key, what) {
  const seen = new Set();
  for (const x of list) {
    if (seen.has(x[key])) fail(`duplicate ${what} ${key} ${q(x[key])}`);
    seen.add(x[key]);
  }
}

/** The spec, checked: names are identifiers, codes unique, dtype/redop codes 0..n-1 in order. */
export function load(root) {
  const spec = JSON.parse(readFileSync(join(root, SOURCE), 'utf8'));
  const { collectives, dtypes, reduceOps, rankKinds, busbwFormulas, dtypeAliases } = spec;
  if (!Number.isInteger(spec.protocolVersion) || spec.protocolVersion < 1)
    fail('protocolVersion must be an integer ≥ 1');
  for (const [what, list] of [
    ['collective', collectives],
    ['dtype', dtypes],
    ['reduce op', reduceOps],
  ]) {
    for (const x of list) {
      if (!IDENT.test(x.name)) fail(`${what} name ${q(x.name)} is not a lower-case identifier`);
      if (!Number.isInteger(x.code) || x.code < 0) fail(`${what} ${x.name}: code must be an integer ≥ 0`);
    }
    unique(list, 'name', what);
    unique(list, 'code', what);
  }
  for (const [what, list] of [
    ['dtype', dtypes],
    ['reduce op', reduceOps],
  ]) {
    list.forEach((x, i) => x.code === i || fail(`${what} ${x.name} has code ${x.code}; want 0, 1, 2, … in order`));
  }
  for (const c of collectives) {
    if (c.code === 0) fail(`collective ${c.name}: code 0 is reserved (an unset slot)`);
    if (!FORMULA[c.busbw] || !busbwFormulas[c.busbw]) fail(`collective ${c.name}: unknown busbw formula ${q(c.busbw)}`);
    if (!/^[a-z][A-Za-z0-9]*$/.test(c.ts)) fail(`collective ${c.name}: ts name ${q(c.ts)} is not camelCase`);
    if (!IDENT.test(c.py)) fail(`collective ${c.name}: py name ${q(c.py)} is not snake_case`);
  }
  for (const d of dtypes) if (![1, 2, 4, 8].includes(d.bytes)) fail(`dtype ${d.name}: bytes must be 1, 2, 4 or 8`);
  const dtypeNames = new Set(dtypes.map((d) => d.name));
  for (const [fw, list] of Object.entries(dtypeAliases)) {
    if (fw.startsWith('$')) continue;
    for (const a of list)
      if (!dtypeNames.has(a.dtype)) fail(`dtypeAliases.${fw}: ${a.type} names unknown dtype ${q(a.dtype)}`);
  }
  unique(rankKinds, 'name', 'rank kind');
  return spec;
}

/** Array indexed by code, `hole` where no entry has that code. */
function byCode(list, f, hole) {
  const out = new Array(Math.max(...list.map((x) => x.code)) + 1).fill(hole);
  for (const x of list) out[x.code] = f(x);
  return out;
}

function cpp(s) {
  const colls = s.collectives,
    dts = s.dtypes,
    ops = s.reduceOps;
  const xla = [
    ...dts.filter((d) => d.xla).map((d) => [d.xla, d.name, 1]),
    ...s.dtypeAliases.xla.map((a) => [a.type, a.dtype, a.per]),
  ];
  const lines = [
    '// Wire enums of protocol v1 (spec/enums.json, docs/protocol.md §3, §5): append, never renumber.',
    '#pragma once',
    '#include <cstddef>',
    '#include <cstdint>',
    '',
    `#define ONET_PROTOCOL_VERSION ${s.protocolVersion}`,
    '',
    '// X(name): every collective, dtype and reduce op in code order, for tables and kernel instantiations.',
    ...macro(
      '#define ONET_COLLS(X)',
      colls.map((c) => `X(${c.name})`),
    ),
    ...macro(
      '#define ONET_DTYPES(X)',
      dts.map((d) => `X(${d.name})`),
    ),
    ...macro(
      '#define ONET_REDOPS(X)',
      ops.map((o) => `X(${o.name})`),
    ),
    '// X(xla DataType enumerator, wire dtype, wire elements per element): what bindings/jax accepts.',
    ...macro(
      '#define ONET_XLA_DTYPES(X)',
      xla.map(([x, d, n]) => `X(${x}, ${d}, ${n})`),
    ),
    '',
    'namespace onet {',
    '',
    `constexpr uint32_t kProtocolVersion = ${s.protocolVersion};`,
    '',
    ...braced(
      'enum class Coll : uint32_t',
      colls.map((c) => `${c.name} = ${c.code}`),
    ),
    `constexpr uint32_t kMaxColl = ${Math.max(...colls.map((c) => c.code))};`,
    ...braced(
      'enum class DType : uint32_t',
      dts.map((d) => `${d.name} = ${d.code}`),
    ),
    `constexpr uint32_t kNumDTypes = ${dts.length};`,
    ...braced(
      'enum class RedOp : uint32_t',
      ops.map((o) => `${o.name} = ${o.code}`),
    ),
    `constexpr uint32_t kNumRedOps = ${ops.length};`,
    '',
    'namespace gen {',
    '// Indexed by code; "?" where no collective has that code.',
    ...braced(
      'constexpr const char* kCollNames[kMaxColl + 1] =',
      byCode(colls, (c) => q(c.name), '"?"'),
    ),
    ...braced(
      'constexpr const char* kDTypeNames[kNumDTypes] =',
      dts.map((d) => q(d.name)),
    ),
    ...braced(
      'constexpr uint32_t kDTypeBytes[kNumDTypes] =',
      dts.map((d) => String(d.bytes)),
    ),
    ...braced(
      'constexpr bool kDTypeFloat[kNumDTypes] =',
      dts.map((d) => String(d.float)),
    ),
    ...braced(
      'constexpr const char* kRedOpNames[kNumRedOps] =',
      ops.map((o) => q(o.name)),
    ),
    ...braced(
      'constexpr bool kRedOpIntegerOnly[kNumRedOps] =',
      ops.map((o) => String(o.integerOnly)),
    ),
    ...braced(
      'constexpr const char* kRankKinds[] =',
      s.rankKinds.map((k) => q(k.name)),
    ),
    '}  // namespace gen',
    '',
    '// busbw = algbw × this for a group of P ranks (nccl-tests conventions); 1 when P <= 1.',
    'constexpr double busbw_factor(Coll c, int P) {',
    '  if (P <= 1) return 1.0;',
    '  switch (c) {',
    ...Object.keys(FORMULA).flatMap((f) => {
      const cs = colls.filter((c) => c.busbw === f);
      return cs.length ? [...cs.map((c) => `    case Coll::${c.name}:`), `      return ${FORMULA[f].cpp};`] : [];
    }),
    '  }',
    '  return 1.0;',
    '}',
    '',
    '}  // namespace onet',
    '',
  ];
  return lines.join('\n');
}

function ts(s) {
  const colls = s.collectives,
    dts = s.dtypes,
    ops = s.reduceOps;
  const arrayOf = (d) => d.typedArray ?? s.dtypeAliases.typedArray.find((a) => a.dtype === d.name)?.type;
  const ambiguous = new Set(s.dtypeAliases.typedArray.map((a) => a.type));
  const lines = [
    '// Wire enums of protocol v1 (spec/enums.json, docs/protocol.md §3, §5): append, never renumber.',
    '',
    `export const PROTOCOL_VERSION = ${s.protocolVersion};`,
    '',
    '/** Collective wire codes by wire name. */',
    'export const COLL = {',
    ...colls.map((c) => `  ${c.name}: ${c.code},`),
    '} as const;',
    'export type Coll = keyof typeof COLL;',
    'export const COLLS = Object.keys(COLL) as Coll[];',
    '/** The Communicator method of each collective (src/api/comm.ts). */',
    'export const COLL_METHOD: Record<Coll, string> = {',
    ...colls.map((c) => `  ${c.name}: ${sq(c.ts)},`),
    '};',
    '',
    '/** Dtype names; DTYPES[code] is the dtype with that wire code. */',
    `export const DTYPES = [${dts.map((d) => sq(d.name)).join(', ')}] as const;`,
    'export type DType = (typeof DTYPES)[number];',
    `export const DTYPE_SIZE: Record<DType, number> = { ${dts.map((d) => `${d.name}: ${d.bytes}`).join(', ')} };`,
    `export const FLOAT_DTYPES: readonly DType[] = [${dts
      .filter((d) => d.float)
      .map((d) => sq(d.name))
      .join(', ')}];`,
    '/** The typed array that holds each dtype (f16/bf16: their bits in a Uint16Array). */',
    'export const DTYPE_ARRAY = {',
    ...dts.map((d) => `  ${d.name}: ${arrayOf(d)},`),
    '} as const;',
    '/** Typed arrays that name exactly one dtype (a Uint16Array needs an explicit dtype). */',
    'export const ARRAY_DTYPE: ReadonlyArray<readonly [Function, DType]> = [',
    ...dts
      .filter((d) => d.typedArray && !ambiguous.has(d.typedArray))
      .map((d) => `  [${d.typedArray}, ${sq(d.name)}],`),
    '];',
    '',
    '/** Reduce op names; REDOPS[code] is the op with that wire code. */',
    `export const REDOPS = [${ops.map((o) => sq(o.name)).join(', ')}] as const;`,
    'export type RedOp = (typeof REDOPS)[number];',
    `export const INTEGER_ONLY_REDOPS: readonly RedOp[] = [${ops
      .filter((o) => o.integerOnly)
      .map((o) => sq(o.name))
      .join(', ')}];`,
    '',
    '/** Values of `register.framework` that we ship (docs/protocol.md §2). */',
    `export const RANK_KINDS = [${s.rankKinds.map((k) => sq(k.name)).join(', ')}] as const;`,
    'export type RankKind = (typeof RANK_KINDS)[number];',
    '',
    '/** busbw = algbw × this for a group of P ranks (nccl-tests conventions); 1 when P <= 1. */',
    'export function busbwFactor(coll: Coll, P: number): number {',
    '  if (P <= 1) return 1;',
    '  switch (coll) {',
    ...Object.keys(FORMULA).flatMap((f) => {
      const cs = colls.filter((c) => c.busbw === f);
      return cs.length ? [...cs.map((c) => `    case ${sq(c.name)}:`), `      return ${FORMULA[f].ts};`] : [];
    }),
    '    default:',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: this is TypeScript source to emit
    '      throw new RangeError(`unknown collective ${JSON.stringify(coll)}; use one of ${COLLS.join(", ")}`);',
    '  }',
    '}',
    '',
  ];
  return lines.join('\n');
}

function py(s) {
  const colls = s.collectives,
    dts = s.dtypes,
    ops = s.reduceOps;
  const code = Object.fromEntries(dts.map((d) => [d.name, d.code]));
  const fwMap = (fw, withPer) => {
    const rows = [
      ...dts.filter((d) => d[fw]).map((d) => [d[fw], d.code, 1]),
      ...(s.dtypeAliases[fw] ?? []).filter((a) => !a.module).map((a) => [a.type, code[a.dtype], a.per]),
    ];
    return rows.map(([t, c, per]) => `    ${q(t)}: ${withPer ? `(${c}, ${per})` : c},`);
  };
  const dict = (entries) => entries.map(([k, v]) => `    ${q(k)}: ${v},`);
  const lines = [
    '"""Wire enums of protocol v1 (spec/enums.json, docs/protocol.md §3, §5): append, never renumber."""',
    '',
    'from __future__ import annotations',
    '',
    `PROTOCOL_VERSION = ${s.protocolVersion}`,
    '',
    '# Collective wire codes by wire name, and the Python method name (torch casing) of each.',
    'COLLS = {',
    ...dict(colls.map((c) => [c.name, c.code])),
    '}',
    'COLL_NAMES = {v: k for k, v in COLLS.items()}',
    'COLL_METHODS = {',
    ...dict(colls.map((c) => [c.name, q(c.py)])),
    '}',
    '',
    '# Dtype wire codes by name, element bytes by code.',
    'DTYPES = {',
    ...dict(dts.map((d) => [d.name, d.code])),
    '}',
    'DTYPE_NAMES = {v: k for k, v in DTYPES.items()}',
    `DTYPE_SIZE = {${dts.map((d) => `${d.code}: ${d.bytes}`).join(', ')}}`,
    `FLOAT_DTYPES = frozenset((${dts
      .filter((d) => d.float)
      .map((d) => d.code)
      .join(', ')}))`,
    '',
    '# numpy dtype name -> wire code; (module, attribute) -> wire code where numpy itself lacks the type.',
    'NUMPY_DTYPES = {',
    ...fwMap('numpy', false),
    '}',
    'NUMPY_EXTRA_DTYPES = {',
    ...s.dtypeAliases.numpy.filter((a) => a.module).map((a) => `    (${q(a.module)}, ${q(a.type)}): ${code[a.dtype]},`),
    '}',
    '# torch dtype attribute -> (wire code, wire elements per tensor element).',
    'TORCH_DTYPES = {',
    ...fwMap('torch', true),
    '}',
    '# jax.numpy dtype name -> wire code.',
    'JAX_DTYPES = {',
    ...fwMap('jax', false),
    '}',
    '',
    '# Reduce op wire codes by name; torch ReduceOp name -> code; the ops jax collectives accept.',
    'REDOPS = {',
    ...dict(ops.map((o) => [o.name, o.code])),
    '}',
    'REDOP_NAMES = {v: k for k, v in REDOPS.items()}',
    'TORCH_REDOPS = {',
    ...dict(ops.map((o) => [o.torch, o.code])),
    '}',
    `JAX_REDOPS = (${ops
      .filter((o) => o.jax)
      .map((o) => q(o.name))
      .join(', ')})`,
    `INTEGER_ONLY_REDOPS = frozenset((${ops
      .filter((o) => o.integerOnly)
      .map((o) => o.code)
      .join(', ')}))`,
    '',
    '# Values of `register.framework` that we ship (docs/protocol.md §2).',
    `RANK_KINDS = (${s.rankKinds.map((k) => q(k.name)).join(', ')})`,
    '',
    '_BUSBW = {',
    ...colls.flatMap((c) => [...new Set([c.name, c.py])].map((n) => `    ${q(n)}: ${q(c.busbw)},`)),
    '}',
    '',
    '',
    'def bus_factor(coll: str, P: int) -> float:',
    '    """busbw = algbw x this for a group of P ranks (nccl-tests conventions); 1 when P <= 1.',
    '',
    '    ``coll`` is the wire name (``allreduce``) or the Python one (``all_reduce``)."""',
    '    formula = _BUSBW.get(coll)',
    '    if formula is None:',
    '        raise ValueError(f"unknown collective {coll!r}; use one of {\', \'.join(COLLS)}")',
    '    if P <= 1:',
    '        return 1.0',
    ...Object.keys(FORMULA).flatMap((f, i, all) =>
      i < all.length - 1
        ? [`    if formula == ${q(f)}:`, `        return ${FORMULA[f].py}`]
        : [`    return ${FORMULA[f].py}`],
    ),
    '',
  ];
  return lines.join('\n');
}

export function outputs(root) {
  const s = load(root);
  return [
    { path: 'native/common/gen/enums.h', text: cpp(s), source: SOURCE },
    { path: 'src/gen/enums.ts', text: ts(s), source: SOURCE },
    { path: 'python/opennetworks/_gen/enums.py', text: py(s), source: SOURCE },
  ];
}
