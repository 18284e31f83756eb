// The web endpoint over TLS: with ONET_TLS_CERT/KEY/CA set it serves https and wss. A self-signed certificate for
// 127.0.0.1 made with the openssl CLI; two Node web ranks (the browser client over `ws`, trusting that
// certificate) join through the https join URLs and allreduce; a client that does not trust it cannot connect.
// Skipped without the openssl CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { client, webCoordinator } from './web_helpers';

const why = spawnSync('openssl', ['version']).status === 0 ? '' : 'no openssl CLI to make a test certificate';

describe.skipIf(!!why)(`the web endpoint over wss${why ? ` (SKIPPED: ${why})` : ''}`, () => {
  const dir = why ? '' : mkdtempSync(join(tmpdir(), 'onet-wss-'));
  let wc: Awaited<ReturnType<typeof webCoordinator>> | undefined;
  afterAll(async () => {
    await wc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves https and wss; ranks that trust the certificate join and allreduce', async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const cert = join(dir, 'cert.pem');
    wc = await webCoordinator('wss-job', 2, {
      ONET_TLS_CERT: cert,
      ONET_TLS_KEY: join(dir, 'key.pem'),
      ONET_TLS_CA: cert,
    });
    const ca = readFileSync(cert);
    expect(wc.urls[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/join#/);

    // The client module over https, trusting the certificate.
    const status = await new Promise<number>((resolve, reject) =>
      request(new URL('/opennetworks.js', wc!.urls[0]), { ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end(),
    );
    expect(status).toBe(200);

    const c = await client();
    class Trusting extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { ca });
      }
    }
    // A client that does not trust the certificate never gets a rank.
    const refused = await c.join(wc.urls[0], { WebSocket }).then(
      () => 'joined',
      (e: Error) => e.message,
    );
    expect(refused).toMatch(/cannot reach the coordinator at wss:\/\/127\.0\.0\.1:\d+\/ws/);

    const comms = await Promise.all(wc.urls.map((u) => c.join(u, { WebSocket: Trusting })));
    const out = await Promise.all(
      comms.map((comm: any) => comm.allreduce(Float32Array.of(comm.rank + 1, 10), { op: 'sum' })),
    );
    expect(out.map((a) => Array.from(a as Float32Array))).toEqual([
      [3, 20],
      [3, 20],
    ]);
    await Promise.all(comms.map((comm: any) => comm.close()));
  }, 60_000);
});
