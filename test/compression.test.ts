// Compression inside the collective (docs/compression.md).
//  1. native/tests/codec_test.cc: every codec × dtype × count (0, 1, 4097, 1<<20) round trip (lossless bit for
//     bit, lossy within the documented bound), corrupt frames caught by the CRC32C and never decoded, and the
//     compressed ring / gather allreduces with ranks as threads (identical on every rank, lossless bit-identical
//     to the uncompressed schedule, the residuals adding up to the error).
//  2. Hosts on loopback addresses (src/testing/loopback.ts, no root), 3 ranks on 1+1+1 hosts: every codec
//     (per-call option) × f32/f64/i32 × counts through ring (default rules at 1<<20), the gather path (the
//     one-shot sizes) and dbtree (ONET_ALGO), identical digests on every rank, lossless = off bit for bit,
//     lossy within its bound, error feedback carried / fresh per key; ONET_COMPRESSION job-wide and a bad
//     value; a corrupt frame (transport checksums off, ONET_TEST_CORRUPT) is EPROTO, never a result.
// zstd/lz4 cases skip, saying so, when the build has no libzstd/liblz4 (codec_test prints SKIP).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsOf, runJob } from '../src/testing/job.js';
import { createLoopback, type Loopback } from '../src/testing/loopback.js';
import { nativeTestBinary, ROOT, runProc } from './helpers';

const { bin, looked } = nativeTestBinary('codec_test', process.env.ONET_CODEC_TEST_BIN);
if (bin === undefined) console.warn(`compression.test: native part SKIPPED, no codec_test in ${looked.join(', ')}`);
const WORKER = join(ROOT, 'test/fixtures/compression_worker.mjs');

/** Codecs this build has (zstd/lz4 need libzstd/liblz4 at build time). */
function builtCodecs(): string[] {
  const all = ['bf16', 'fp16', 'int8', 'topk', 'zstd', 'lz4'];
  if (!bin) return all.slice(0, 4);
  const out = spawnSync(bin, ['--codecs'], { encoding: 'utf8' }).stdout.trim().split(',');
  for (const c of all.filter((x) => !out.includes(x)))
    console.warn(`compression.test: ${c} SKIPPED: this build has no ${c === 'zstd' ? 'libzstd' : 'liblz4'}`);
  return all.filter((x) => out.includes(x));
}

describe.skipIf(bin === undefined)('codecs and compressed schedules (native, ranks as threads)', () => {
  it('codec_test passes', async () => {
    const r = await runProc(bin as string, [], {}, 120_000);
    const out = `${r.stdout}${r.stderr}`;
    console.log(
      out
        .split('\n')
        .filter((l) => /ratio|error|corrupt|SKIP|checks/.test(l))
        .join('\n'),
    );
    expect(out).toMatch(/codec_test: \d+ checks, 0 failed/);
    expect(r.code, out.slice(-3000)).toBe(0);
  }, 130_000);
});

describe('compression across hosts on loopback addresses', () => {
  let lo: Loopback;
  const codecs = builtCodecs();
  beforeAll(async () => {
    lo = await createLoopback(3);
  });
  afterAll(() => lo?.destroy());

  async function sweep(env: NodeJS.ProcessEnv, counts: string) {
    const runs = await runJob(
      lo,
      [1, 1, 1],
      process.execPath,
      [WORKER],
      { ONET_TEST_CODECS: codecs.join(','), ONET_TEST_COUNTS: counts, ONET_TIMEOUT: '60', ...env },
      120_000,
    );
    const res = resultsOf(runs);
    for (const r of res) {
      expect(r.missing, JSON.stringify(r)).toBeUndefined();
      expect(r.failures, `rank ${r.rank}`).toEqual([]);
    }
    // Every rank decoded the same bytes.
    for (const r of res.slice(1)) expect(r.digests).toEqual(res[0].digests);
    return res;
  }

  it('ring (1<<20) and the gather path (0, 1, 4097): every codec, identical, exact or within bound', async () => {
    const res = await sweep({}, '0,1,4097,1048576');
    console.log('relative errors (rank 0):', JSON.stringify(res[0].errors));
    expect(res[0].cases).toBeGreaterThan(20);
  }, 150_000);

  it('dbtree forced: lossy codecs run the compressed ring, lossless ones stay exact', async () => {
    await sweep({ ONET_ALGO: 'allreduce:dbtree' }, '4097,1048576');
  }, 150_000);

  /** Four 1<<20 f32 allreduces with the job's ONET_COMPRESSION; each rank's digests or error. */
  async function once(env: NodeJS.ProcessEnv) {
    const runs = await runJob(
      lo,
      [1, 1, 1],
      process.execPath,
      [WORKER, 'once'],
      { ONET_TIMEOUT: '15', ...env },
      90_000,
    );
    const res = resultsOf(runs);
    for (const r of res) expect(r.missing, JSON.stringify(r)).toBeUndefined();
    return res;
  }

  it('ONET_COMPRESSION=auto: every rank ends with the same bytes (host 0 decides per call)', async () => {
    const res = await once({ ONET_COMPRESSION: 'auto' });
    for (const r of res) expect(r.code, r.message).toBeNull();
    for (const r of res.slice(1)) expect(r.digests).toEqual(res[0].digests);
  }, 100_000);

  it('a bad ONET_COMPRESSION is EINVAL naming the valid codecs', async () => {
    const res = await once({ ONET_COMPRESSION: 'gzip' });
    for (const r of res) {
      expect(r.code).toBe('EINVAL');
      expect(r.message).toMatch(/ONET_COMPRESSION.*gzip.*bf16/);
    }
  }, 100_000);

  it('a corrupt compressed frame is EPROTO (transport checksums off), never a result', async () => {
    // ONET_CHECKSUM=0: the transport does not check payloads, so the frame's own CRC32C must catch it.
    const res = await once({ ONET_COMPRESSION: 'int8', ONET_CHECKSUM: '0', ONET_TEST_CORRUPT: '7' });
    const codes = res.map((r) => r.code);
    console.log('corrupt frame:', JSON.stringify(res.map((r) => [r.code, r.message.slice(0, 160)])));
    expect(codes).toContain('EPROTO');
    for (const r of res)
      expect(r.code, 'no rank may complete every call with a corrupt frame in flight').not.toBeNull();
  }, 100_000);
});
