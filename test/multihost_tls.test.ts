// Encrypted data path across hosts (docs/transport.md "Encryption"): one coordinator per network
// namespace, ONET_TLS_CERT/KEY/CA from a test CA made with the openssl CLI, ONET_TLS_DATA=1, and
// every collective checked bit for bit against the reference (test/fixtures/collectives_worker.mjs).
// Each coordinator's log must say its transport is encrypted. The namespace group is skipped, saying why, without
// namespaces (not root) or without the openssl CLI. Refusals (a stranger's certificate, a
// plaintext peer) and tampered frames are covered by transport_test tcp-tls (test/transport.test.ts).
// First, without namespaces: how ONET_TLS_DATA (src/security/data_tls.ts) picks the files.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataTlsFrom } from '../src/security/data_tls.js';
import { ROOT } from './helpers.js';
import { createNet, type Net, netnsUnavailable } from './netns/harness.js';
import { resultsOf, runJob } from './netns/job.js';

const noOpenssl = spawnSync('openssl', ['version']).status === 0 ? '' : 'no openssl CLI to make test certificates';
// The addon and transport_test come from one build: without OpenSSL there, encryption is ENOTSUP.
const probe = spawnSync(join(ROOT, 'build/transport_test'), ['--tls-available'], { encoding: 'utf8' }).stdout?.trim();
const noTlsBuild =
  probe === 'yes' ? '' : 'this build has no OpenSSL (install libssl-dev and rebuild: npm run build:native)';
const why = netnsUnavailable() || noOpenssl || noTlsBuild;
if (why) console.warn(`multi-host TLS tests skipped: ${why}`);
const WORKER = join(ROOT, 'test/fixtures/collectives_worker.mjs');

/** A CA and one certificate per host it signs (ECDSA P-256). */
function makePki(dir: string, hosts: number) {
  const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const key = ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  sh([...key, '-x509', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=onet-test-ca']);
  for (let h = 0; h < hosts; h++) {
    sh([...key, '-keyout', `h${h}.key`, '-out', `h${h}.csr`, '-subj', `/CN=h${h}`]);
    sh([
      'x509',
      '-req',
      '-in',
      `h${h}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `h${h}.pem`,
    ]);
  }
}

/** Every file named `name` under dir, concatenated. */
function gather(dir: string, name: string): string {
  let out = '';
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out += gather(p, name);
    else if (e === name) out += readFileSync(p, 'utf8');
  }
  return out;
}

/** runJob with an environment per host; returns the coordinators' logs too. */
async function runTlsJob(net: Net, perHost: number[], env: (host: number) => NodeJS.ProcessEnv, timeoutMs: number) {
  let logs: string[] = [];
  const res = await runJob(net, perHost, process.execPath, [WORKER], env, timeoutMs, async (dirs) => {
    await new Promise((r) => setTimeout(r, 500)); // coordinators flush their logs as they exit
    logs = dirs.map((d) => gather(d, 'coord.log'));
  });
  return { res, logs };
}

describe('ONET_TLS_DATA decides what the native transport gets', () => {
  it('auto follows ONET_TLS_*, 1 requires them (and tcp), 0 turns it off, anything else is an error', () => {
    const d = mkdtempSync(join(tmpdir(), 'onet-tlsdata-'));
    try {
      for (const f of ['c.pem', 'k.pem', 'ca.pem']) writeFileSync(join(d, f), 'x');
      const trio = { ONET_TLS_CERT: join(d, 'c.pem'), ONET_TLS_KEY: join(d, 'k.pem'), ONET_TLS_CA: join(d, 'ca.pem') };
      expect(dataTlsFrom({}, 'tcp')).toBeUndefined();
      expect(dataTlsFrom(trio, 'tcp')).toEqual({
        tlsCert: trio.ONET_TLS_CERT,
        tlsKey: trio.ONET_TLS_KEY,
        tlsCa: trio.ONET_TLS_CA,
      });
      expect(dataTlsFrom({ ...trio, ONET_TLS_DATA: '0' }, 'tcp')).toBeUndefined();
      expect(dataTlsFrom({ ...trio, ONET_TLS_DATA: '1' }, 'tcp')).toBeDefined();
      expect(dataTlsFrom(trio, 'ucx')).toBeUndefined();
      expect(() => dataTlsFrom({ ...trio, ONET_TLS_DATA: '1' }, 'ucx')).toThrow(
        /ucx transport has no encryption; use ONET_TRANSPORT=tcp/,
      );
      expect(() => dataTlsFrom({ ONET_TLS_DATA: '1' }, 'tcp')).toThrow(
        /ONET_TLS_DATA=1 needs ONET_TLS_CERT, ONET_TLS_KEY and ONET_TLS_CA/,
      );
      expect(() => dataTlsFrom({ ONET_TLS_DATA: 'yes' }, 'tcp')).toThrow(/ONET_TLS_DATA=yes is not a mode/);
      expect(() => dataTlsFrom({ ONET_TLS_CERT: trio.ONET_TLS_CERT }, 'tcp')).toThrow(/all of ONET_TLS_CERT/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!!why)('multi-host with an encrypted data path', () => {
  let net: Net;
  let pki: string;
  beforeAll(() => {
    net = createNet(2, { rate: '10gbit' });
    pki = mkdtempSync(join(tmpdir(), 'onet-tlspki-'));
    makePki(pki, 2);
  });
  afterAll(() => {
    net?.destroy();
    if (pki) rmSync(pki, { recursive: true, force: true });
  });

  it('every collective is exact across 2 hosts (2+1 ranks) over TLS 1.3 + AES-256-GCM', async () => {
    const { res, logs } = await runTlsJob(
      net,
      [2, 1],
      (h) => ({
        ONET_TEST_CROSS: '1',
        ONET_TEST_COUNTS: '0,1,4097',
        ONET_TIMEOUT: '60',
        ONET_TRANSPORT: 'tcp',
        ONET_TLS_DATA: '1',
        ONET_TLS_CERT: join(pki, `h${h}.pem`),
        ONET_TLS_KEY: join(pki, `h${h}.key`),
        ONET_TLS_CA: join(pki, 'ca.pem'),
      }),
      150_000,
    );
    for (const r of resultsOf(res)) {
      expect(r.missing, JSON.stringify(r).slice(0, 2000)).toBeUndefined();
      expect(r.failures, `rank ${r.rank}`).toEqual([]);
      expect(r.cases).toBeGreaterThan(400);
    }
    for (const [h, log] of logs.entries())
      expect(log, `host ${h} coordinator log`).toMatch(
        /tcp transport listening on \S+ \(encrypted: TLS 1\.3 \+ AES-256-GCM\)/,
      );
  }, 200_000);

  it('large messages (1<<20 elements: multi-frame, striped over both streams) are exact, encrypted', async () => {
    const { res, logs } = await runTlsJob(
      net,
      [1, 1],
      (h) => ({
        ONET_TEST_CROSS: '1',
        ONET_TEST_COUNTS: '1048576',
        ONET_TIMEOUT: '60',
        ONET_TRANSPORT: 'tcp',
        ONET_TLS_CERT: join(pki, `h${h}.pem`),
        ONET_TLS_KEY: join(pki, `h${h}.key`),
        ONET_TLS_CA: join(pki, 'ca.pem'),
      }),
      150_000,
    ); // ONET_TLS_DATA unset: auto, on because the three files are set
    for (const r of resultsOf(res)) {
      expect(r.missing, JSON.stringify(r).slice(0, 2000)).toBeUndefined();
      expect(r.failures, JSON.stringify(r).slice(0, 2000)).toEqual([]);
    }
    for (const log of logs) expect(log).toMatch(/\(encrypted: TLS 1\.3 \+ AES-256-GCM\)/);
  }, 200_000);
});
