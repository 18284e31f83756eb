// Per-job secrets (docs/protocol.md §8). Whoever holds ONET_JOB_TOKEN may join the job: ranks
// prove it at `register`, coordinators in the rendezvous hello, with an HMAC over what they
// claim plus a timestamp and a fresh nonce; the token itself never travels. Observer and admin
// tokens (ONET_OBSERVER_TOKEN, ONET_ADMIN_TOKEN) open status and abort, nothing else.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { setting } from '../config/settings.js';

export type Role = 'rank' | 'observer' | 'admin';
export interface Auth {
  ts: number;
  nonce: string;
  mac: string;
}

/** How far a proof's timestamp may be from this clock (hosts' clocks must agree this well). */
export const SKEW_MS = 120_000;

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

export function mac(token: string, parts: (string | number)[]): string {
  return createHmac('sha256', token)
    .update(['onet-v1', ...parts].join('|'))
    .digest('hex');
}

/** A proof that the sender holds `token`, bound to `parts` (message type, job, rank, ...). */
export function prove(token: string, parts: (string | number)[], now = Date.now()): Auth {
  const nonce = randomBytes(16).toString('hex');
  return { ts: now, nonce, mac: mac(token, [...parts, now, nonce]) };
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex'),
    y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** The tokens a coordinator checks against, from its environment. */
export interface Tokens {
  rank: string;
  observer: string;
  admin: string;
}
export function tokensFrom(env: NodeJS.ProcessEnv): Tokens {
  return {
    rank: String(setting('jobToken', env)),
    observer: String(setting('observerToken', env)),
    admin: String(setting('adminToken', env)),
  };
}

/**
 * Checks proofs and remembers nonces for SKEW_MS so a captured proof cannot be replayed.
 * verify() returns '' when the proof holds, else why not (for the log; the peer gets less).
 */
export class Verifier {
  private readonly seen = new Map<string, number>();
  refusals = 0;

  verify(token: string, a: Auth | undefined, parts: (string | number)[], now = Date.now()): string {
    if (!token) return 'no token of that role is configured';
    if (!a || typeof a !== 'object') return 'no proof of the job token (auth) was sent';
    if (typeof a.ts !== 'number' || Math.abs(now - a.ts) > SKEW_MS)
      return `its timestamp is more than ${SKEW_MS / 1000} s off this clock`;
    if (typeof a.nonce !== 'string' || !/^[0-9a-f]{16,64}$/.test(a.nonce)) return 'its nonce is malformed';
    if (typeof a.mac !== 'string' || !sameHex(a.mac, mac(token, [...parts, a.ts, a.nonce])))
      return 'its HMAC does not match the job token';
    if (this.seen.has(a.nonce)) return 'its nonce was already used (a replay)';
    this.seen.set(a.nonce, now);
    if (this.seen.size > 4096) for (const [n, t] of this.seen) if (now - t > SKEW_MS) this.seen.delete(n);
    return '';
  }

  /** The strongest role whose token signed `parts`, or a reason for refusing. */
  role(t: Tokens, a: Auth | undefined, parts: (string | number)[]): Role | { refused: string } {
    for (const [role, token] of [
      ['admin', t.admin],
      ['rank', t.rank],
      ['observer', t.observer],
    ] as const) {
      if (!token || !a || typeof a.mac !== 'string') continue;
      if (sameHex(a.mac, mac(token, [...parts, a.ts, a.nonce]))) {
        const why = this.verify(token, a, parts);
        return why ? { refused: why } : role;
      }
    }
    return {
      refused: a ? 'its HMAC matches none of the job, observer or admin tokens' : 'no proof of a token (auth) was sent',
    };
  }
}

/** What a client adds to a control request when it holds a token (rank, observer or admin). */
export function clientAuth(
  env: NodeJS.ProcessEnv,
  parts: (string | number)[],
  prefer: Role[] = ['rank', 'admin', 'observer'],
): { auth?: Auth } {
  const t = tokensFrom(env);
  for (const r of prefer) if (t[r]) return { auth: prove(t[r], parts) };
  return {};
}
