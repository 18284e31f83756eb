// Coordinators of one job find each other through what the launcher already gave the ranks:
// ONET_BOOTSTRAP=host:port, else torchrun/Slurm/mpirun's MASTER_ADDR with MASTER_PORT+1 (the
// port after torch's TCPStore). The coordinator that hosts rank 0 serves the bootstrap; every
// coordinator (that one included) sends {job, ranks, addr} and gets back the full host list
// once the hosts' ranks cover the world. One JSON line each way over plain TCP; the server
// closes as soon as every host has its answer, so nothing listens after start-up.
import { connect, createServer, type Socket } from 'node:net';
import { hostname } from 'node:os';
import * as tls from 'node:tls';
import { settingText } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { type Auth, mac, prove, Verifier } from '../security/auth.js';
import { type TlsFiles, tlsOptions } from '../security/tls.js';

/** Who may take part (docs/protocol.md §8): HMAC of the job token on hello and answer; mutual TLS. */
export interface RendezvousSecurity {
  token?: string;
  tls?: TlsFiles;
  verifier?: Verifier;
}
const helloParts = (h: Hello) => ['hello', h.job, JSON.stringify(h.ranks), h.addr];

export const RENDEZVOUS_VERSION = 1;

export interface HostEntry {
  host: number;
  ranks: number[];
  addr: string;
  hostname: string;
}
export interface Bootstrap {
  host: string;
  port: number;
  source: string;
}

export interface Hello {
  v: number;
  job: string;
  ranks: number[];
  addr: string;
  hostname: string;
  auth?: Auth;
}

/** Where the bootstrap listens, from the environment; undefined for a single-host job. */
export function bootstrapFrom(env: NodeJS.ProcessEnv): Bootstrap | undefined {
  const explicit = settingText('bootstrap', env);
  if (explicit) {
    const m = /^(.+):(\d+)$/.exec(explicit.trim());
    if (!m) throw new OnetError('EINVAL', `ONET_BOOTSTRAP=${explicit} is not host:port (e.g. 10.0.0.1:29501)`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]), source: 'ONET_BOOTSTRAP' };
  }
  if (env.MASTER_ADDR && env.MASTER_PORT) {
    const port = Number(env.MASTER_PORT) + 1;
    if (!Number.isInteger(port) || port > 65535)
      throw new OnetError('EINVAL', `MASTER_PORT=${env.MASTER_PORT} is not a port number`);
    return { host: env.MASTER_ADDR, port, source: `MASTER_ADDR:MASTER_PORT+1 (${env.MASTER_ADDR}:${env.MASTER_PORT})` };
  }
  return undefined;
}

/** Check a hello; returns an error message or ''. */
export function checkHello(h: unknown, job: string, world: number): string {
  const o = h as Partial<Hello>;
  if (!o || typeof o !== 'object') return 'hello is not a JSON object';
  if (o.v !== RENDEZVOUS_VERSION)
    return (
      `speaks rendezvous version ${o.v}, this coordinator speaks ${RENDEZVOUS_VERSION}; run the same ` +
      `OpenNetworks version on every host`
    );
  if (o.job !== job)
    return (
      `belongs to job ${o.job}, this bootstrap serves job ${job}; check ONET_JOB_ID / TORCHELASTIC_RUN_ID on ` +
      `every host`
    );
  if (
    !Array.isArray(o.ranks) ||
    !o.ranks.length ||
    o.ranks.some((r) => !Number.isInteger(r) || r < 0 || r >= world) ||
    new Set(o.ranks).size !== o.ranks.length
  )
    return `lists ranks ${JSON.stringify(o.ranks)}, not a non-empty list of distinct ranks below world size ${world}`;
  if (typeof o.addr !== 'string' || !/^[^\s]+:\d+$/.test(o.addr))
    return `gave data address ${JSON.stringify(o.addr)}, not ip:port`;
  return '';
}

/** Order hosts by their lowest rank and check the ranks partition the world. */
export function assemble(hellos: Hello[], world: number): HostEntry[] {
  const addrs = new Map<string, number>();
  hellos.forEach((h, i) => {
    const o = addrs.get(h.addr);
    if (o !== undefined && o !== i)
      throw new OnetError(
        'EINVAL',
        `two coordinators (${hellos[o].hostname} and ${h.hostname}) gave the same data address ${h.addr}; is one of ` +
          `them a stale process?`,
      );
    addrs.set(h.addr, i);
  });
  const owner = new Map<number, number>();
  hellos.forEach((h, i) => {
    for (const r of h.ranks) {
      const o = owner.get(r);
      if (o !== undefined && o !== i)
        throw new OnetError(
          'EINVAL',
          `rank ${r} is claimed by two hosts (${hellos[o].hostname} at ${hellos[o].addr} and ${h.hostname} at ` +
            `${h.addr}); check RANK on both`,
          [r],
        );
      owner.set(r, i);
    }
  });
  if (owner.size !== world) {
    const missing = [...Array(world).keys()].filter((r) => !owner.has(r));
    throw new OnetError('EINVAL', `ranks ${missing.join(', ')} have no host yet`, missing);
  }
  const sorted = [...hellos].sort((a, b) => Math.min(...a.ranks) - Math.min(...b.ranks));
  return sorted.map((h, i) => ({
    host: i,
    ranks: [...h.ranks].sort((a, b) => a - b),
    addr: h.addr,
    hostname: h.hostname,
  }));
}

function lines(sock: Socket, onLine: (l: string) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    if (buf.length > 1 << 20) {
      sock.destroy();
      return;
    }
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

/** Serve the bootstrap until every host has been answered (or the deadline passes). */
export function serveBootstrap(
  b: Bootstrap,
  job: string,
  world: number,
  timeoutMs: number,
  log: (msg: string) => void,
  sec: RendezvousSecurity = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const hellos: { h: Hello; sock: Socket }[] = [];
    const covered = new Set<number>();
    const verifier = sec.verifier ?? new Verifier();
    const onConn = (sock: Socket) => {
      sock.on('error', () => {});
      lines(sock, (l) => {
        let h: unknown;
        try {
          h = JSON.parse(l);
        } catch {
          h = null;
        }
        let bad = checkHello(h, job, world);
        if (!bad && sec.token) {
          const why = verifier.verify(sec.token, (h as Hello).auth, helloParts(h as Hello));
          if (why) {
            verifier.refusals++;
            bad = `has no valid proof of the job token: ${why}`;
          }
        }
        if (bad) {
          log(`refused a coordinator from ${sock.remoteAddress}: it ${bad}`);
          sock.end(
            JSON.stringify({ error: `bootstrap ${b.host}:${b.port} refused this coordinator: it ${bad}` }) + '\n',
          );
          return;
        }
        hellos.push({ h: h as Hello, sock });
        for (const r of (h as Hello).ranks) covered.add(r);
        if (covered.size < world) return;
        let reply: string;
        try {
          reply = JSON.stringify({
            hosts: assemble(
              hellos.map((x) => x.h),
              world,
            ),
          });
        } catch (e: any) {
          reply = JSON.stringify({ error: e.message });
        }
        for (const x of hellos) {
          // The answer proves the bootstrap holds the token too, bound to the asker's nonce.
          const body =
            sec.token && x.h.auth
              ? JSON.stringify({ ...JSON.parse(reply), mac: mac(sec.token, ['hosts', job, reply, x.h.auth.nonce]) })
              : reply;
          x.sock.end(body + '\n');
        }
        clearTimeout(timer);
        server.close();
        resolve();
      });
    };
    const server = sec.tls ? tls.createServer(tlsOptions(sec.tls), onConn) : createServer(onConn);
    if (sec.tls)
      server.on('tlsClientError', (e: Error) => {
        verifier.refusals++;
        log(`refused a TLS connection: ${e.message}`);
      });
    const timer = setTimeout(() => {
      server.close();
      const missing = [...Array(world).keys()].filter((r) => !covered.has(r));
      const msg =
        `bootstrap ${b.host}:${b.port}: no coordinator for rank(s) ${missing.join(', ')} arrived within ` +
        `${timeoutMs / 1000} s; start them or raise ONET_CONNECT_TIMEOUT`;
      for (const x of hellos) x.sock.end(JSON.stringify({ error: msg }) + '\n');
      reject(new OnetError('ETIMEDOUT', msg, missing));
    }, timeoutMs);
    timer.unref();
    server.on('error', (e: any) => {
      clearTimeout(timer);
      reject(
        new OnetError(
          'EINVAL',
          `cannot listen for the bootstrap on ${b.host}:${b.port} (from ${b.source}): ${e.message}; set ` +
            `ONET_BOOTSTRAP to a free host:port`,
        ),
      );
    });
    server.listen(b.port, b.host);
  });
}

/** Say hello to the bootstrap (retrying until it listens) and return the host list. */
export async function join(
  b: Bootstrap,
  job: string,
  ranks: number[],
  addr: string,
  timeoutMs: number,
  sec: RendezvousSecurity = {},
): Promise<HostEntry[]> {
  const deadline = Date.now() + timeoutMs;
  const hello: Hello = { v: RENDEZVOUS_VERSION, job, ranks, addr, hostname: hostname() };
  let last = '';
  while (Date.now() < deadline) {
    try {
      return await new Promise<HostEntry[]>((resolve, reject) => {
        const h: Hello = sec.token ? { ...hello, auth: prove(sec.token, helloParts(hello)) } : hello;
        const sock = sec.tls
          ? tls.connect({ host: b.host, port: b.port, ...tlsOptions(sec.tls) })
          : connect({ host: b.host, port: b.port });
        const t = setTimeout(
          () => {
            sock.destroy();
            reject(new Error('no answer'));
          },
          Math.max(100, deadline - Date.now()),
        );
        sock.on('error', (e) => {
          clearTimeout(t);
          reject(e);
        });
        sock.on(sec.tls ? 'secureConnect' : 'connect', () => sock.write(JSON.stringify(h) + '\n'));
        lines(sock, (l) => {
          clearTimeout(t);
          sock.destroy();
          let m: any;
          try {
            m = JSON.parse(l);
          } catch {
            m = { error: 'bootstrap answered with something that is not JSON' };
          }
          if (!m.error && sec.token) {
            const { mac: got, ...rest } = m;
            if (typeof got !== 'string' || got !== mac(sec.token, ['hosts', job, JSON.stringify(rest), h.auth!.nonce]))
              m = {
                error:
                  `the bootstrap at ${b.host}:${b.port} could not prove it holds this job's ONET_JOB_TOKEN; ` +
                  `refusing its host list`,
              };
          }
          if (m.error)
            reject(
              new OnetError(
                /refused this coordinator: it has no valid proof|could not prove/.test(m.error) ? 'EACCES' : 'EINVAL',
                m.error,
              ),
            );
          else resolve(m.hosts as HostEntry[]);
        });
      });
    } catch (e: any) {
      if (e instanceof OnetError) throw e;
      last = e.message;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new OnetError(
    'ETIMEDOUT',
    `could not reach the bootstrap at ${b.host}:${b.port} (from ${b.source}) within ${timeoutMs / 1000} s (last ` +
      `error: ${last}); check that the host with rank 0 is up and that the address routes from here`,
  );
}
