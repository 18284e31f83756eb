// The enums-and-layout contract, TypeScript side: the shared cases in spec/fixtures/enums.json and
// spec/fixtures/layout.json give the same answers here as in python/tests/test_contract_enums.py.
// They run through the code that uses the tables (dtypeOf, busFactor, LAYOUT, the Arena's slot
// writer's offsets), not only through src/gen/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dtypeOf } from '../src/api/tensor';
import { COLL, DTYPE_SIZE, DTYPES, LAYOUT, REDOPS } from '../src/bridge/protocol';
import { OnetError } from '../src/errors';
import * as E from '../src/gen/enums';
import {
  ARENA,
  CTL,
  GEOMETRY,
  LAYOUT_FIELDS,
  LAYOUT_VERSION,
  MAGIC,
  SLOT,
  SLOT_FLAG,
  SLOT_MSG_BYTES,
  SLOT_STATE,
} from '../src/gen/layout';
import { busFactor as simulateBusFactor } from '../src/scheduler/simulate';
import { busFactor as windowBusFactor } from '../src/telemetry/window';

const ROOT = join(__dirname, '..');
const fixture = (name: string) => JSON.parse(readFileSync(join(ROOT, 'spec/fixtures', name), 'utf8'));
const enums = fixture('enums.json');
const layout = fixture('layout.json');
const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

describe('enums (spec/fixtures/enums.json)', () => {
  it('protocol version', () => expect(E.PROTOCOL_VERSION).toBe(enums.protocolVersion));

  it.each(enums.dtypes.map((d: any) => [d.name, d]))('dtype %s: code, bytes, float', (_, d: any) => {
    expect(DTYPES.indexOf(d.name)).toBe(d.code);
    expect(E.DTYPE_SIZE[d.name as E.DType]).toBe(d.bytes);
    expect(DTYPE_SIZE[d.name as E.DType]).toBe(d.bytes);
    expect(E.FLOAT_DTYPES.includes(d.name)).toBe(d.float);
    expect(E.DTYPE_ARRAY[d.name as E.DType].BYTES_PER_ELEMENT).toBe(d.bytes);
  });

  it('exactly the fixture dtypes, collectives, ops and rank kinds', () => {
    expect([...DTYPES]).toEqual(enums.dtypes.map((d: any) => d.name));
    expect(Object.entries(COLL)).toEqual(enums.collectives.map((c: any) => [c.name, c.code]));
    expect([...REDOPS]).toEqual(enums.reduceOps.map((o: any) => o.name));
    expect([...E.RANK_KINDS]).toEqual(enums.rankKinds);
  });

  it.each(enums.collectives.map((c: any) => [c.name, c]))('collective %s: code and method name', (_, c: any) => {
    expect(E.COLL[c.name as E.Coll]).toBe(c.code);
    expect(E.COLL_METHOD[c.name as E.Coll]).toBe(c.ts);
  });

  it.each(enums.reduceOps.map((o: any) => [o.name, o]))('reduce op %s', (_, o: any) => {
    expect(REDOPS.indexOf(o.name)).toBe(o.code);
    expect(E.INTEGER_ONLY_REDOPS.includes(o.name)).toBe(o.integerOnly);
  });

  const typed = enums.frameworkDtypes.cases.filter((c: any) => c.framework === 'typedArray');
  it.each(typed.map((c: any) => [c.type, c]))('typed array %s -> dtype', (_, c: any) => {
    const Ctor = (globalThis as any)[c.type];
    if (c.dtype === null) {
      expect(() => dtypeOf(new Ctor(1))).toThrow(OnetError);
      expect(() => dtypeOf(new Ctor(1))).toThrow(/ambiguous|not a supported/);
    } else {
      expect(dtypeOf(new Ctor(1))).toBe(c.dtype);
    }
  });

  it.each(enums.busbw.cases.map((c: any) => [`${c.coll} world ${c.world}`, c]))('busbw factor %s', (_, c: any) => {
    if (!(c.coll in E.COLL)) return; // a Python-only name (all_reduce): checked on the Python side
    const wire: string = c.coll;
    expect(E.busbwFactor(wire as E.Coll, c.world)).toBeCloseTo(c.factor, 12);
    expect(windowBusFactor(wire, c.world)).toBeCloseTo(c.factor, 12);
    if (['allreduce', 'allgather', 'broadcast', 'reduce_scatter', 'reduce', 'alltoall', 'barrier'].includes(wire))
      expect(simulateBusFactor(wire as any, c.world)).toBeCloseTo(c.factor, 12);
  });

  it.each(enums.unknownCollectives.map((n: string) => [JSON.stringify(n), n]))('unknown collective %s', (_, n: any) => {
    expect(() => E.busbwFactor(n, 4)).toThrow(/unknown collective/);
    expect(windowBusFactor(n, 4)).toBe(1); // telemetry rows of non-collectives keep algbw
  });
});

describe('layout (spec/fixtures/layout.json)', () => {
  const k = layout.constants;

  it('constants', () => {
    expect(MAGIC).toBe(k.magic);
    expect(LAYOUT_VERSION).toBe(k.layout_version);
    expect(GEOMETRY).toMatchObject({
      numSlots: k.num_slots,
      slotsOffset: k.slots_offset,
      slotBytes: k.slot_bytes,
      dataOffset: k.data_offset,
      ctlBytes: k.ctl_bytes,
      align: k.align,
      slotMaxRanks: k.slot_max_ranks,
    });
    expect(SLOT_MSG_BYTES).toBe(k.slot_msg_bytes);
    expect(LAYOUT).toMatchObject({
      slots: k.num_slots,
      slotsOffset: k.slots_offset,
      slotBytes: k.slot_bytes,
      dataOffset: k.data_offset,
      slotMsgOffset: layout.slot.msg[0],
      slotMsgBytes: k.slot_msg_bytes,
    });
    expect(SLOT_STATE).toEqual(Object.fromEntries(Object.entries(layout.slotStates).map(([n, v]) => [camel(n), v])));
    expect(SLOT_FLAG).toEqual(Object.fromEntries(Object.entries(layout.flags).map(([n, v]) => [camel(n), v])));
  });

  it.each([
    ['arena', ARENA],
    ['slot', SLOT],
    ['ctl', CTL],
  ] as const)('%s: every field at its offset with its type', (name, offsets) => {
    const want = layout[name] as Record<string, [number, string]>;
    expect(Object.fromEntries(LAYOUT_FIELDS[name].map((f) => [f.name, [f.offset, f.type]]))).toEqual(want);
    expect(offsets).toEqual(Object.fromEntries(Object.entries(want).map(([n, [off]]) => [camel(n), off])));
  });

  it('a request written through the generated offsets has the fixture bytes', () => {
    const { values, hex } = layout.request;
    const buf = new ArrayBuffer(hex.length / 2);
    const v = new DataView(buf);
    for (const f of LAYOUT_FIELDS.slot) {
      if (!(f.name in values)) continue;
      const x = values[f.name];
      if (f.type === 'u32') v.setUint32(f.offset, x, true);
      else if (f.type === 'i32') v.setInt32(f.offset, x, true);
      else if (f.type === 'u64') v.setBigUint64(f.offset, BigInt(x), true);
      else if (f.type === 'f64') v.setFloat64(f.offset, x, true);
    }
    expect(Buffer.from(buf).toString('hex')).toBe(hex);
  });
});
