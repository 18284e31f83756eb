import { describe, expect, it } from 'vitest';
import { rankEnv } from '../src/api/env';
import { parseControl } from '../src/bridge/protocol';
import { formatTable, sweep } from '../src/cli/bench';
import { describeSettings, parseBytes, SETTINGS, setting } from '../src/config/settings';
import { jobId, jobPaths } from '../src/coordinator/paths';
import { OnetError } from '../src/errors';

describe('settings registry', () => {
  it('parses byte sizes and rejects garbage with the variable name', () => {
    expect(parseBytes('4096')).toBe(4096);
    expect(parseBytes('256KiB')).toBe(262144);
    expect(parseBytes('64MiB')).toBe(64 << 20);
    expect(parseBytes('1g')).toBe(1 << 30);
    expect(() => parseBytes('lots', 'ONET_ARENA_BYTES')).toThrow(/ONET_ARENA_BYTES="lots" is not a byte size/);
  });
  it('reads env over defaults and lists every setting once', () => {
    expect(setting('spinUs', {})).toBe(50);
    expect(setting('spinUs', { ONET_SPIN_US: '7' })).toBe(7);
    expect(() => setting('timeoutS', { ONET_TIMEOUT: 'soon' })).toThrow(/ONET_TIMEOUT/);
    const rows = describeSettings({ ONET_SPIN_US: '7' });
    expect(rows.length).toBe(Object.keys(SETTINGS).length);
    expect(new Set(rows.map((r) => r.env)).size).toBe(rows.length);
    expect(rows.find((r) => r.env === 'ONET_SPIN_US')).toMatchObject({ value: '7', source: 'env' });
  });
  it('never prints a secret: tokens show as set, not their value', () => {
    const secret = 'f00d'.repeat(16);
    const rows = describeSettings({ ONET_JOB_TOKEN: secret, ONET_OBSERVER_TOKEN: secret, ONET_ADMIN_TOKEN: secret });
    for (const env of ['ONET_JOB_TOKEN', 'ONET_OBSERVER_TOKEN', 'ONET_ADMIN_TOKEN'])
      expect(rows.find((r) => r.env === env)).toMatchObject({ value: '(set, hidden)', source: 'env' });
    expect(JSON.stringify(rows)).not.toContain(secret);
  });
});

describe('protocol and environment', () => {
  it('accepts a well-formed register and names the bad field otherwise', () => {
    const ok = {
      v: 1,
      type: 'register',
      job: 'j',
      rank: 1,
      world: 2,
      localRank: 1,
      localWorld: 2,
      pid: 5,
      framework: 'node',
    };
    expect(parseControl(Buffer.from(JSON.stringify(ok)))).toMatchObject({ rank: 1 });
    expect(() => parseControl(Buffer.from(JSON.stringify({ ...ok, job: '../x' })))).toThrow(/"job"/);
    expect(() => parseControl(Buffer.from(JSON.stringify({ v: 1, type: 'group', group: 1, ranks: [2, 1] })))).toThrow(
      /sorted/,
    );
    expect(() => parseControl(Buffer.from(JSON.stringify({ v: 1, type: 'post', slot: 64 })))).toThrow(/slot/);
  });
  it('derives the job id from launchers and keeps it path-safe', () => {
    // spec/jobid.json
    expect(() => jobId({ ONET_JOB_ID: 'a/b c' })).toThrow(/ONET_JOB_ID="a\/b c" is not a valid job id/);
    expect(jobId({ TORCHELASTIC_RUN_ID: 'te' })).toBe('te');
    expect(jobId({ MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500' })).toBe('10.0.0.1_29500');
    expect(jobId({})).toBe('default');
    expect(jobPaths('j', { ONET_RUN_DIR: '/r' }).endpoint).toBe('ipc:///r/j/coord.sock');
  });
  it('reads torchrun-style rank variables and rejects bad ones', () => {
    expect(rankEnv({ RANK: '1', WORLD_SIZE: '3', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '3' })).toEqual({
      rank: 1,
      world: 3,
      localRank: 1,
      localWorld: 3,
    });
    expect(rankEnv({})).toEqual({ rank: 0, world: 1, localRank: 0, localWorld: 1 });
    expect(() => rankEnv({ RANK: '3', WORLD_SIZE: '3' })).toThrow(/out of range/);
    expect(() => rankEnv({ RANK: 'x', WORLD_SIZE: '3' })).toThrow(/RANK="x"/);
    expect(() => rankEnv({ WORLD_SIZE: '2' })).toThrow(/RANK/);
  });
  it('maps native errors by their code and ranks fields, never by their text', () => {
    const native = Object.assign(new Error('allreduce #3: count differs: rank 0 has 1, rank 2 has 2'), {
      code: 'EMISMATCH',
      ranks: [0, 2],
    });
    const e = OnetError.fromNative(native);
    expect([e.code, e.ranks]).toEqual(['EMISMATCH', [0, 2]]);
    expect(OnetError.fromNative(new Error('EMISMATCH: a code in the text is just text')).code).toBe('EINTERNAL');
    expect(OnetError.fromStatus(3, 'late', [1]).code).toBe('ETIMEDOUT');
    expect(OnetError.fromStatus(3, 'late', [1]).ranks).toEqual([1]);
  });
  it('bench sweeps sizes by 4× and prints nccl-tests columns', () => {
    expect(sweep(8, 512)).toEqual([8, 32, 128, 512]);
    expect(sweep(8, 100)).toEqual([8, 32, 100]);
    expect(
      formatTable([
        {
          op: 'allreduce',
          size: 8,
          count: 2,
          dtype: 'f32',
          redop: 'sum',
          timeUs: 6,
          algbw: 0,
          busbw: 0,
          wrong: 0,
          iters: 1,
        },
      ]),
    ).toMatch(/busbw\(GB\/s\)[\s\S]*\n +8 +2 +f32/);
  });
});
