// Security (docs/protocol.md §8): a coordinator started with ONET_JOB_TOKEN admits only processes
// that prove the token (HMAC, never the token itself), refuses and counts everyone else; observer
// and admin tokens open status and abort; the rendezvous between coordinators carries an HMAC and
// optionally mutual TLS 1.3; local surfaces are owner-only; onet run generates a token.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pjoin } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { type Comm, init } from '../src/api/comm';
import { jobHash } from '../src/coordinator/network';
import { join, serveBootstrap } from '../src/coordinator/rendezvous';
import { Coordinator } from '../src/coordinator/server';
import { generateToken, mac, prove } from '../src/security/auth';
import { tlsFrom } from '../src/security/tls';
import { ONET, runProc } from './helpers';

const TOKEN = generateToken(),
  OBSERVER = generateToken(),
  ADMIN = generateToken();

async function raw(endpoint: string, body: Record<string, unknown>): Promise<any> {
  const s = new zmq.Dealer({ linger: 0, receiveTimeout: 5000 });
  s.connect(endpoint);
  await s.send(JSON.stringify({ v: 1, id: 1, ...body }));
  const [reply] = await s.receive();
  s.close();
  return JSON.parse(reply.toString());
}

describe('a token-protected coordinator', () => {
  const job = `sec-${process.pid}`;
  // An admin abort fails the collectives pending at the engine (fast-lane calls never reach the coordinator).
  const base = {
    ...process.env,
    ONET_JOB_ID: job,
    ONET_TIMEOUT: '20',
    ONET_ARENA_BYTES: '1MiB',
    ONET_FASTLANE_MAX_BYTES: '0',
  };
  const env = { ...base, ONET_JOB_TOKEN: TOKEN, ONET_OBSERVER_TOKEN: OBSERVER, ONET_ADMIN_TOKEN: ADMIN };
  let coord: Coordinator;
  let comms: Comm[];
  const logs: string[] = [];
  const reg = (rank: number, extra: Record<string, unknown> = {}) => ({
    type: 'register',
    job,
    rank,
    world: 3,
    localRank: rank,
    localWorld: 3,
    pid: process.pid,
    framework: 'x',
    ...extra,
  });

  beforeAll(async () => {
    coord = await Coordinator.start({ job, world: 3, env, log: (_l, m) => logs.push(m) });
    comms = await Promise.all(
      [0, 1].map((rank) =>
        init({ rank, world: 3, localRank: rank, localWorld: 3, job, env: { ...base, ONET_JOB_TOKEN: TOKEN } }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(comms.map((c) => c.close()));
    await coord.close();
  });

  it('admits ranks that prove the token', () => {
    expect(
      coord
        .status()
        .ranks.map((r) => r.rank)
        .sort(),
    ).toEqual([0, 1]);
    expect(coord.status().security).toEqual({ tokenRequired: true, refusals: 0 });
  });

  it.each([
    ['no proof', {}, /no proof of the job token/],
    [
      'a proof made with another token',
      { auth: prove(generateToken(), ['register', job, 2, process.pid]) },
      /HMAC does not match/,
    ],
    ['a proof for another rank', { auth: prove(TOKEN, ['register', job, 1, process.pid]) }, /HMAC does not match/],
    ['a stale proof', { auth: prove(TOKEN, ['register', job, 2, process.pid], Date.now() - 3600_000) }, /timestamp/],
  ])('refuses a register with %s, logs and counts it', async (_n, extra, why) => {
    const before = coord.status().security.refusals;
    const r = await raw(coord.endpoint, reg(2, extra));
    expect(r).toMatchObject({ type: 'error', code: 'EACCES' });
    expect(r.message).toMatch(why);
    expect(r.message).not.toContain(TOKEN);
    expect(coord.status().security.refusals).toBe(before + 1);
    expect(logs.some((l) => /refused rank 2/.test(l))).toBe(true);
  });

  it('refuses a replayed proof', async () => {
    const auth = prove(TOKEN, ['status', job]);
    expect((await raw(coord.endpoint, { type: 'status', auth })).type).toBe('status');
    const again = await raw(coord.endpoint, { type: 'status', auth });
    expect(again).toMatchObject({ type: 'error', code: 'EACCES' });
    expect(again.message).toMatch(/already used \(a replay\)/);
  });

  it('status: refused without a proof, served to observer, admin and rank tokens', async () => {
    expect(await raw(coord.endpoint, { type: 'status' })).toMatchObject({ type: 'error', code: 'EACCES' });
    for (const t of [OBSERVER, ADMIN, TOKEN]) {
      const s = await raw(coord.endpoint, { type: 'status', auth: prove(t, ['status', job]) });
      expect(s.type).toBe('status');
      expect(s.security.refusals).toBeGreaterThan(0);
    }
  });

  it('onet status shows the refusals when given the observer token', async () => {
    const r = await runProc(
      process.execPath,
      [ONET, 'status', '--job', job],
      { ...base, ONET_OBSERVER_TOKEN: OBSERVER },
      30_000,
    );
    expect(r.stdout + r.stderr).toMatch(/security: job token required, \d+ refusal/);
    const no = await runProc(process.execPath, [ONET, 'status', '--job', job], base, 30_000);
    expect(no.code).not.toBe(0);
    expect(no.stdout + no.stderr).toMatch(/refused a status request/);
  }, 60_000);

  it('keeps local surfaces owner-only: job directory 0700, control socket and shared-memory segments 0600', () => {
    expect(statSync(coord.paths.dir).mode & 0o777).toBe(0o700);
    const segs = readdirSync('/dev/shm').filter((n) => n.startsWith(`onet-${job}-`));
    expect(segs.length).toBeGreaterThan(0); // the ctl segment lives as long as the coordinator
    for (const s of segs) expect(statSync(pjoin('/dev/shm', s)).mode & 0o777).toBe(0o600);
    // The control socket sits in the 0700 directory: nobody else can even reach it.
    expect(statSync(coord.paths.socket).isSocket()).toBe(true);
    expect(statSync(coord.paths.socket).mode & 0o777).toBe(0o600);
  });

  it('abort: refused for observer and rank tokens, done for admin; ranks see EABORTED', async () => {
    for (const t of [OBSERVER, TOKEN]) {
      const r = await raw(coord.endpoint, { type: 'abort', auth: prove(t, ['abort', job]) });
      expect(r).toMatchObject({ type: 'error', code: 'EACCES' });
      expect(r.message).toMatch(/may not abort|matches none/);
    }
    const pending = comms[0].allreduce(Float32Array.of(1)).catch((e) => e); // waits for ranks 1, 2
    await new Promise((r) => setTimeout(r, 200));
    expect(await raw(coord.endpoint, { type: 'abort', auth: prove(ADMIN, ['abort', job]) })).toMatchObject({
      type: 'ok',
    });
    const e = await pending;
    expect(e.code).toBe('EABORTED');
    expect(e.message).toMatch(/aborted by an admin/);
  });
});

describe('rendezvous between coordinators', () => {
  let port = 21000 + (process.pid % 15000);
  const boot = () => ({ host: '127.0.0.1', port: port++, source: 'test' });

  it('with a job token: a coordinator without it, or with another, is refused and counted', async () => {
    const b = boot();
    const logs: string[] = [];
    const served = serveBootstrap(b, 'j', 2, 20_000, (m) => logs.push(m), { token: TOKEN });
    await expect(join(b, 'j', [1], '10.0.0.2:2', 5000)).rejects.toMatchObject({ code: 'EACCES' });
    await expect(join(b, 'j', [1], '10.0.0.2:2', 5000, { token: generateToken() })).rejects.toThrow(
      /no valid proof of the job token: its HMAC does not match/,
    );
    const hosts = await Promise.all([
      join(b, 'j', [0], '10.0.0.1:1', 5000, { token: TOKEN }),
      join(b, 'j', [1], '10.0.0.2:2', 5000, { token: TOKEN }),
    ]);
    await served;
    expect(hosts[0].map((h) => h.ranks)).toEqual([[0], [1]]);
    expect(logs.filter((l) => /no valid proof/.test(l)).length).toBe(2);
  });

  it('a bootstrap that cannot prove the token is not believed', async () => {
    const b = boot();
    const served = serveBootstrap(b, 'j', 1, 20_000, () => {}); // an impostor without the token
    await expect(join(b, 'j', [0], '10.0.0.1:1', 5000, { token: TOKEN })).rejects.toThrow(
      /could not prove it holds this job's ONET_JOB_TOKEN/,
    );
    await served;
  });

  it('mutual TLS 1.3: peers with a certificate of the job CA meet; others are refused', async () => {
    const d = mkdtempSync(pjoin(tmpdir(), 'onet-tls-'));
    const ssl = (...a: string[]) => execFileSync('openssl', a, { cwd: d, stdio: 'ignore' });
    for (const ca of ['ca', 'evil']) {
      ssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${ca}`,
        '-keyout',
        `${ca}.key`,
        '-out',
        `${ca}.pem`,
      );
    }
    for (const [name, ca] of [
      ['a', 'ca'],
      ['b', 'ca'],
      ['x', 'evil'],
    ]) {
      ssl(
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
      );
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.pem`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-days',
        '1',
        '-out',
        `${name}.pem`,
      );
    }
    const files = (n: string) =>
      tlsFrom({
        ONET_TLS_CERT: pjoin(d, `${n}.pem`),
        ONET_TLS_KEY: pjoin(d, `${n}.key`),
        ONET_TLS_CA: pjoin(d, 'ca.pem'),
      })!;
    expect(() => tlsFrom({ ONET_TLS_CERT: 'x' })).toThrow(/all of ONET_TLS_CERT, ONET_TLS_KEY and ONET_TLS_CA/);
    const b = boot();
    const logs: string[] = [];
    const served = serveBootstrap(b, 'j', 2, 20_000, (m) => logs.push(m), { tls: files('a'), token: TOKEN });
    // A stranger's certificate (another CA), and plain TCP, never get an answer.
    await expect(join(b, 'j', [1], '10.0.0.2:2', 1500, { tls: files('x'), token: TOKEN })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
    await expect(join(b, 'j', [1], '10.0.0.2:2', 1500, { token: TOKEN })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const hosts = await Promise.all([
      join(b, 'j', [0], '10.0.0.1:1', 5000, { tls: files('a'), token: TOKEN }),
      join(b, 'j', [1], '10.0.0.2:2', 5000, { tls: files('b'), token: TOKEN }),
    ]);
    await served;
    expect(hosts[1].map((h) => h.addr)).toEqual(['10.0.0.1:1', '10.0.0.2:2']);
    expect(logs.some((l) => /refused a TLS connection/.test(l))).toBe(true);
  }, 30_000);

  it('the transport handshake hash depends on the token, so a job without it cannot pair', () => {
    expect(jobHash('j')).not.toBe(jobHash('j', TOKEN));
    expect(jobHash('j', TOKEN)).toBe(jobHash('j', TOKEN));
    expect(jobHash('j', TOKEN)).not.toBe(jobHash('j', generateToken()));
    expect(mac('k', ['a', 1])).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('onet run', () => {
  it('generates a job token, hands it to the ranks, and the job runs with it', async () => {
    const r = await runProc(
      process.execPath,
      [
        ONET,
        'run',
        '-n',
        '2',
        '--',
        process.execPath,
        '-e',
        "console.log('TOKEN_LEN ' + (process.env.ONET_JOB_TOKEN || '').length)",
      ],
      { ONET_JOB_TOKEN: '' },
      60_000,
    );
    expect(r.code).toBe(0);
    expect(r.stdout.match(/TOKEN_LEN (\d+)/g)).toEqual(['TOKEN_LEN 43', 'TOKEN_LEN 43']);
    const w = await runProc(
      process.execPath,
      [ONET, 'run', '-n', '2', '--', process.execPath, 'test/fixtures/fault_worker.mjs'],
      { ONET_JOB_TOKEN: '', ONET_FAULT_ITERS: '5' },
      60_000,
    );
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/"ok":5,"wrong":\[\],"errors":\[\]/);
  }, 120_000);
});
