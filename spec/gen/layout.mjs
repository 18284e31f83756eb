// Emitter for spec/layout.json: the shared-memory byte layout (docs/protocol.md §3).
//   native/common/gen/layout.h          onet::layout offsets + X-macros that native/shm/layout.h asserts its structs by
//   src/gen/layout.ts                   ARENA, SLOT, CTL offsets, SLOT_STATE, LAYOUT_FIELDS
//   python/opennetworks/_gen/layout.py  OFF_*, SLOT_*, CTL_* offsets, SLOT_REQUEST format, *_FIELDS tables
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { macro, wrap } from './enums.mjs';

const SOURCE = 'spec/layout.json';
const q = (s) => JSON.stringify(s);
const sq = (s) => `'${s}'`; // TS string literal of a plain name
const SIZE = { u32: 4, i32: 4, u64: 8, f64: 8 };
const PACK = { u32: 'I', i32: 'i', u64: 'Q', f64: 'd' };
const camel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const pascal = (s) => camel(s).replace(/^./, (c) => c.toUpperCase());

function fail(msg) {
  throw new Error(`${SOURCE}: ${msg}`);
}

const sizeOf = (f) => (f.type === 'bytes' ? f.bytes : SIZE[f.type]);

/** Fields in offset order, aligned to their size, not overlapping, inside `bytes` when given. */
function checkFields(what, fields, bytes) {
  let end = 0;
  for (const f of fields) {
    const n = sizeOf(f);
    if (!/^[a-z][a-z0-9_]*$/.test(f.name)) fail(`${what}: bad field name ${q(f.name)}`);
    if (!n) fail(`${what}.${f.name}: unknown type ${q(f.type)} (u32 i32 u64 f64, or bytes with "bytes")`);
    if (f.type !== 'bytes' && f.offset % n) fail(`${what}.${f.name}: offset ${f.offset} is not a multiple of ${n}`);
    if (f.offset < end) fail(`${what}.${f.name}: offset ${f.offset} overlaps the field before (ends at ${end})`);
    end = f.offset + n;
    if (bytes !== undefined && end > bytes) fail(`${what}.${f.name}: ends at ${end}, past the ${bytes}-byte struct`);
  }
}

/** The spec, checked; constants parsed (hex strings allowed). */
export function load(root) {
  const spec = JSON.parse(readFileSync(join(root, SOURCE), 'utf8'));
  const k = {};
  for (const [name, c] of Object.entries(spec.constants)) {
    const v = typeof c.value === 'string' ? Number(c.value) : c.value;
    if (!Number.isSafeInteger(v) || v < 0) fail(`constants.${name}: ${q(c.value)} is not a non-negative integer`);
    k[name] = v;
  }
  const { arena, slot, ctl } = spec.structs;
  checkFields('arena', arena.fields);
  checkFields('slot', slot.fields, slot.bytes);
  checkFields('ctl', ctl.fields, ctl.bytes);
  if (slot.bytes !== k.slot_bytes)
    fail(`structs.slot.bytes ${slot.bytes} differs from constants.slot_bytes ${k.slot_bytes}`);
  if (ctl.bytes > k.ctl_bytes) fail(`structs.ctl.bytes ${ctl.bytes} exceeds constants.ctl_bytes ${k.ctl_bytes}`);
  if (k.slots_offset + k.num_slots * k.slot_bytes > k.data_offset) fail('the slots run into the data region');
  for (const f of arena.fields) {
    const b = spec.arenaBlocks[f.block];
    if (!b) fail(`arena.${f.name}: unknown block ${q(f.block)}`);
    if (f.offset < b.offset || f.offset + sizeOf(f) > b.offset + b.bytes)
      fail(`arena.${f.name}: outside block ${f.block}`);
  }
  const req = slot.fields.filter((f) => f.request);
  req.forEach(
    (f, i) =>
      i === 0 ||
      f.offset === req[i - 1].offset + sizeOf(req[i - 1]) ||
      fail(`slot.${f.name}: request fields must be contiguous (one struct.pack)`),
  );
  return { spec, k };
}

function cpp({ spec, k }) {
  const { arena, slot, ctl } = spec.structs;
  const ns = (name, fields, extra = []) => [
    `namespace ${name} {`,
    ...fields.map((f) => `constexpr size_t ${f.name} = ${f.offset};`),
    ...extra,
    `}  // namespace ${name}`,
  ];
  const xmacro = (name, fields) =>
    macro(
      `#define ${name}(X)`,
      fields.map((f) => `X(${f.name}, ${f.offset}, ${sizeOf(f)})`),
    );
  const blocks = Object.entries(spec.arenaBlocks);
  const lines = [
    '// Shared-memory byte layout, protocol v1 (spec/layout.json, docs/protocol.md §3), little-endian.',
    '// Offsets only: native/shm/layout.h declares the structs and static_asserts them against these.',
    '#pragma once',
    '#include <cstddef>',
    '#include <cstdint>',
    '',
    '// X(field, byte offset in the segment, size in bytes), per C++ struct.',
    ...blocks.flatMap(([b]) =>
      xmacro(
        `ONET_LAYOUT_ARENA_${b.toUpperCase()}`,
        arena.fields.filter((f) => f.block === b),
      ),
    ),
    ...xmacro('ONET_LAYOUT_SLOT', slot.fields),
    ...xmacro('ONET_LAYOUT_CTL', ctl.fields),
    '',
    'namespace onet::layout {',
    '',
    `constexpr uint32_t kVersion = ${spec.layoutVersion};`,
    ...Object.entries(spec.constants).map(([n, c]) => {
      const t = n === 'magic' ? 'uint32_t' : 'size_t';
      const v = n === 'magic' ? `0x${k[n].toString(16).toUpperCase()}` : k[n];
      return `constexpr ${t} k${pascal(n)} = ${v};  // ${c.meaning}`;
    }),
    ...blocks.map(
      ([b, v]) => `constexpr size_t k${pascal(b)}Offset = ${v.offset};  // ${v.bytes} bytes, ${v.writer}-written`,
    ),
    `constexpr size_t kSlotStructBytes = ${slot.bytes};`,
    `constexpr size_t kCtlStructBytes = ${ctl.bytes};`,
    '',
    ...spec.slotStates.map((s) => `constexpr uint32_t kState${pascal(s.name)} = ${s.code};  // ${s.meaning}`),
    ...spec.slotFlags.map((f) => `constexpr uint32_t kFlag${pascal(f.name)} = 1u << ${f.bit};  // ${f.meaning}`),
    '',
    '// Byte offsets in the arena, a slot and the ctl segment.',
    ...ns('arena', arena.fields),
    ...ns('slot', slot.fields, [`constexpr size_t msg_bytes = ${sizeOf(slot.fields.find((f) => f.name === 'msg'))};`]),
    ...ns('ctl', ctl.fields),
    '',
    '}  // namespace onet::layout',
    '',
  ];
  return lines.join('\n');
}

function ts({ spec, k }) {
  const { arena, slot, ctl } = spec.structs;
  const obj = (name, fields, doc) => [
    `/** ${doc} */`,
    `export const ${name} = {`,
    ...fields.map((f) => `  ${camel(f.name)}: ${f.offset},`),
    '} as const;',
  ];
  const table = (fields) =>
    fields.map((f) => `    { name: ${sq(f.name)}, offset: ${f.offset}, type: ${sq(f.type)}, bytes: ${sizeOf(f)} },`);
  const lines = [
    '// Shared-memory byte layout, protocol v1 (spec/layout.json, docs/protocol.md §3), little-endian.',
    '',
    `export const LAYOUT_VERSION = ${spec.layoutVersion};`,
    `export const MAGIC = 0x${k.magic.toString(16)};`,
    '/** Segment geometry. */',
    'export const GEOMETRY = {',
    ...Object.entries(spec.constants)
      .filter(([n]) => n !== 'magic')
      .map(([n, c]) => `  ${camel(n)}: ${k[n]}, // ${c.meaning}`),
    '} as const;',
    '',
    ...obj('ARENA', arena.fields, 'Byte offsets in the arena.'),
    ...obj('SLOT', slot.fields, 'Byte offsets inside a slot.'),
    `export const SLOT_MSG_BYTES = ${sizeOf(slot.fields.find((f) => f.name === 'msg'))};`,
    ...obj('CTL', ctl.fields, 'Byte offsets in the ctl segment.'),
    '',
    "/** Slot states (the slot's `state` word). */",
    'export const SLOT_STATE = {',
    ...spec.slotStates.map((s) => `  ${camel(s.name)}: ${s.code}, // ${s.meaning}`),
    '} as const;',
    'export const SLOT_FLAG = {',
    ...spec.slotFlags.map((f) => `  ${camel(f.name)}: ${1 << f.bit}, // ${f.meaning}`),
    '} as const;',
    '',
    'export interface LayoutField { name: string; offset: number; type: string; bytes: number }',
    '/** Every field with its type, for checks and tools. */',
    "export const LAYOUT_FIELDS: Record<'arena' | 'slot' | 'ctl', readonly LayoutField[]> = {",
    '  arena: [',
    ...table(arena.fields),
    '  ],',
    '  slot: [',
    ...table(slot.fields),
    '  ],',
    '  ctl: [',
    ...table(ctl.fields),
    '  ],',
    '};',
    '',
  ];
  return lines.join('\n');
}

function py({ spec, k }) {
  const { arena, slot, ctl } = spec.structs;
  const names = new Set();
  const def = (name, value, comment) => {
    if (names.has(name)) fail(`two Python constants named ${name}`);
    names.add(name);
    return `${name} = ${value}${comment ? `  # ${comment}` : ''}`;
  };
  const fieldDefs = (s) => s.fields.map((f) => def(`${s.prefix}_${f.name.toUpperCase()}`, f.offset, f.type));
  const table = (name, fields) => [
    `${name} = {`,
    ...fields.map((f) => `    ${q(f.name)}: (${f.offset}, ${q(f.type)}, ${sizeOf(f)}),`),
    '}',
  ];
  const req = slot.fields.filter((f) => f.request);
  const lines = [
    '"""Shared-memory byte layout, protocol v1 (spec/layout.json, docs/protocol.md §3), little-endian."""',
    '',
    'from __future__ import annotations',
    '',
    def('LAYOUT_VERSION', spec.layoutVersion),
    ...Object.entries(spec.constants).map(([n, c]) =>
      def(n.toUpperCase(), n === 'magic' ? `0x${k[n].toString(16).toUpperCase()}` : k[n], c.meaning),
    ),
    '',
    '# Byte offsets in the arena (OFF_*), inside a slot (SLOT_*) and in the ctl segment (CTL_*).',
    ...fieldDefs(arena),
    ...fieldDefs(slot),
    def('SLOT_MSG_BYTES', sizeOf(slot.fields.find((f) => f.name === 'msg'))),
    ...fieldDefs(ctl),
    '',
    '# Slot states and flag bits.',
    ...spec.slotStates.map((s) => def(s.name.toUpperCase(), s.code, s.meaning)),
    ...spec.slotFlags.map((f) => def(`FLAG_${f.name.toUpperCase()}`, 1 << f.bit, f.meaning)),
    '',
    '# What a rank writes when posting: the request fields, packed from SLOT_REQUEST_OFFSET in one struct.',
    def('SLOT_REQUEST_OFFSET', req[0].offset),
    def('SLOT_REQUEST_FORMAT', q(`<${req.map((f) => PACK[f.type]).join('')}`)),
    def(
      'SLOT_REQUEST_FIELDS',
      [
        '(',
        ...wrap(
          req.map((f) => q(f.name)),
          { indent: '    ' },
        ),
        ')',
      ].join('\n'),
    ),
    '',
    '# name -> (offset, type, bytes), for checks and tools.',
    ...table('ARENA_FIELDS', arena.fields),
    ...table('SLOT_FIELDS', slot.fields),
    ...table('CTL_FIELDS', ctl.fields),
    '',
  ];
  return lines.join('\n');
}

export function outputs(root) {
  const s = load(root);
  return [
    { path: 'native/common/gen/layout.h', text: cpp(s), source: SOURCE },
    { path: 'src/gen/layout.ts', text: ts(s), source: SOURCE },
    { path: 'python/opennetworks/_gen/layout.py', text: py(s), source: SOURCE },
  ];
}
