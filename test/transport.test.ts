// Inter-host transports (native/transport/tcp, native/transport/ucx) through the native test
// binary native/tests/transport_test.cc: devices as threads over 127.0.0.1, world sizes
// 1,2,3,5, sizes 0..16 MiB byte-exact, tag matching and order, size mismatch, deadlines, a
// peer closing, unreachable peers, wrong job hash / protocol version, CRC32C corruption, a peer
// process frozen by SIGSTOP (heartbeats: ONET_HEARTBEAT_MS) or killed; the encrypted tcp data
// path (tcp-tls: TLS 1.3 handshake, AES-256-GCM frames, strangers refused, tampering caught).
// Builds nothing: run `flock /tmp/onet-build.lock npm run build:native` first. The UCX group
// runs only when the build found UCX (libucx-dev) and says so when it is skipped.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runProc } from './helpers';

const CANDIDATES = [join(ROOT, 'build', 'transport_test'), join(ROOT, 'build', 'Release', 'transport_test')];
const BIN = CANDIDATES.find((p) => existsSync(p));
const UCX = BIN ? spawnSync(BIN, ['--ucx-available'], { encoding: 'utf8' }).stdout.trim() === 'yes' : false;

async function run(backends: string[], env: NodeJS.ProcessEnv = {}) {
  if (!BIN)
    throw new Error(
      `no transport_test binary in ${CANDIDATES.join(' or ')}: run \`flock /tmp/onet-build.lock npm run build:native\``,
    );
  const r = await runProc(BIN, backends, env, 280_000);
  const out = r.stdout + r.stderr;
  for (const line of out.split('\n')) if (/throughput|SKIPPED|FAIL|detected after/.test(line)) console.log(line.trim());
  return { ...r, out };
}

describe('transport (native)', () => {
  it('tcp: streams 2/1/4, checksum off, MSG_ZEROCOPY', async () => {
    const r = await run(['tcp', 'tcp-streams1', 'tcp-streams4', 'tcp-nocrc', 'tcp-zerocopy']);
    expect(r.out).toMatch(/checksum mismatch/);
    expect(r.out).toMatch(/, 0 failed/);
    expect(r.code, r.out.slice(-4000)).toBe(0);
  }, 300_000);

  // Encrypted data path: same suite plus refusals and tampering; prints the throughput next to
  // plaintext tcp (the cost of encryption; docs/transport.md "Encryption"). Built without
  // OpenSSL the binary says SKIPPED and checks that asking for it is ENOTSUP.
  it('tcp encrypted (mutual TLS 1.3 handshake, AES-256-GCM frames), 2 and 1 streams', async () => {
    const r = await run(['tcp', 'tcp-tls', 'tcp-tls-streams1']);
    if (!/\[tcp-tls\] SKIPPED/.test(r.out)) {
      expect(r.out).toMatch(/authentication failed in a message from host 0/);
      expect(r.out).toMatch(/stranger as host 0, host 1 says -> EMISMATCH .*certificate failed verification/);
      expect(r.out).toMatch(/\[tcp-tls\] ok/);
    }
    expect(r.out).toMatch(/, 0 failed/);
    expect(r.code, r.out.slice(-4000)).toBe(0);
  }, 300_000);

  if (!UCX) console.log('transport ucx: SKIPPED, this build has no UCX backend (install libucx-dev and rebuild)');
  for (const tls of ['tcp', 'tcp,sm']) {
    it.skipIf(!UCX)(
      `ucx with UCX_TLS=${tls}`,
      async () => {
        const r = await run(['ucx'], { UCX_TLS: tls });
        expect(r.out).toMatch(/frozen peer \(SIGSTOP\) detected after \d+ ms .* is unreachable: nothing received for/);
        expect(r.out).toMatch(/\[ucx\] ok/);
        expect(r.code, r.out.slice(-4000)).toBe(0);
      },
      300_000,
    );
  }

  it.runIf(BIN && !UCX)('ucx absent: create_ucx_device says how to get it', async () => {
    const r = await run(['ucx']);
    expect(r.out).toMatch(/SKIPPED: built without UCX .*libucx-dev/);
    expect(r.code).toBe(0);
  });
});
