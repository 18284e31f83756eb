// The WAN rendezvous protocol (docs/wan.md): one libp2p stream per request, carrying one
// length-prefixed JSON message each way. The stream's protocol id never changes across versions
// (so a peer of another version still gets a clear refusal naming both versions); the version
// travels in every message. Tokens never travel: a hello carries an HMAC of the job token over what
// it claims and both peer ids (src/security/auth.ts), so a proof seen on one link is useless on another.
import { type Auth, prove } from '../security/auth.js';

export const WAN_PROTOCOL = '/onet/wan/rendezvous';
export const WAN_VERSION = 1;
/** No message of ours comes near this; a peer sending more is cut off. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export interface PeerHint {
  id: string;
  addrs: string[];
}
export interface WanHello {
  type: 'hello';
  v: number;
  job: string;
  ranks: number[];
  /** ip:port of this host's native transport (the data path where hosts reach each other directly). */
  addr: string;
  hostname: string;
  /** Other coordinators of this job the sender knows: discovery through one peer reaches all. */
  peers: PeerHint[];
  auth?: Auth;
}
export interface WanReady {
  type: 'ready';
  v: number;
  job: string;
  digest: string;
  auth?: Auth;
}
export interface WanOk {
  type: 'ok';
  v: number;
}
/** Why a peer was turned away; the refused side fails at once on the ones that cannot heal. */
export type RefusalReason = 'version' | 'job' | 'token' | 'allow' | 'malformed' | 'started' | 'hosts';
export interface WanRefused {
  type: 'refused';
  v: number;
  reason: RefusalReason;
  error: string;
}
export type WanMsg = WanHello | WanReady | WanOk | WanRefused;

const REASONS: RefusalReason[] = ['version', 'job', 'token', 'allow', 'malformed', 'started', 'hosts'];

export const helloParts = (h: WanHello, from: string, to: string) => [
  'wan-hello',
  h.v,
  h.job,
  JSON.stringify(h.ranks),
  h.addr,
  h.hostname,
  JSON.stringify(h.peers),
  from,
  to,
];
export const readyParts = (r: WanReady, from: string, to: string) => ['wan-ready', r.v, r.job, r.digest, from, to];

export function signHello(h: WanHello, token: string, from: string, to: string): WanHello {
  const { auth: _drop, ...bare } = h;
  return { ...bare, auth: prove(token, helloParts(bare, from, to)) };
}
export function signReady(r: WanReady, token: string, from: string, to: string): WanReady {
  const { auth: _drop, ...bare } = r;
  return { ...bare, auth: prove(token, readyParts(bare, from, to)) };
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = (x: unknown, max = 256) => typeof x === 'string' && x.length <= max;

/** Bytes to a message, or a reason naming what was wrong (never throws). */
export function decodeMessage(bytes: Uint8Array): WanMsg | { bad: string } {
  if (bytes.length > MAX_MESSAGE_BYTES)
    return { bad: `message of ${bytes.length} bytes (at most ${MAX_MESSAGE_BYTES})` };
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    return { bad: `message is not UTF-8 JSON (${(e as Error).message.slice(0, 80)})` };
  }
  if (!isObj(m)) return { bad: 'message is not a JSON object' };
  if (!Number.isInteger(m.v)) return { bad: `message has no integer protocol version v (got ${JSON.stringify(m.v)})` };
  switch (m.type) {
    case 'hello':
    case 'ready':
    case 'ok':
      return m as unknown as WanMsg;
    case 'refused':
      if (!REASONS.includes(m.reason as RefusalReason) || !str(m.error, 4096))
        return { bad: 'refusal without a known reason and an error text' };
      return m as unknown as WanMsg;
    default:
      return { bad: `unknown message type ${JSON.stringify(m.type)?.slice(0, 40)}` };
  }
}

export function encodeMessage(m: WanMsg): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}

const VERSION_HINT = 'run the same OpenNetworks version on every host';

/** Check a hello's fields (not its proof); returns [reason, text] or undefined when it is well-formed. */
export function checkHello(
  h: unknown,
  job: string,
  world: number,
  version = WAN_VERSION,
): [RefusalReason, string] | undefined {
  if (!isObj(h)) return ['malformed', 'hello is not a JSON object'];
  if (h.v !== version)
    return ['version', `speaks WAN rendezvous version ${h.v}, this coordinator speaks ${version}; ${VERSION_HINT}`];
  if (h.job !== job)
    return ['job', `belongs to job ${JSON.stringify(h.job)?.slice(0, 80)}, this coordinator is in job ${job}`];
  const ranks = h.ranks;
  if (
    !Array.isArray(ranks) ||
    !ranks.length ||
    ranks.length > world ||
    ranks.some((r) => !Number.isInteger(r) || r < 0 || r >= world) ||
    new Set(ranks).size !== ranks.length
  )
    return [
      'malformed',
      `lists ranks ${JSON.stringify(ranks)?.slice(0, 80)}, not a non-empty list of distinct ranks below world ${world}`,
    ];
  if (!str(h.addr, 300) || !/^[^\s]+:\d{1,5}$/.test(h.addr as string))
    return ['malformed', `gave data address ${JSON.stringify(h.addr)?.slice(0, 80)}, not ip:port`];
  if (!str(h.hostname)) return ['malformed', 'gave no hostname string'];
  const peers = h.peers;
  if (
    !Array.isArray(peers) ||
    peers.length > 4096 ||
    peers.some(
      (p) =>
        !isObj(p) ||
        !str(p.id, 128) ||
        !Array.isArray(p.addrs) ||
        p.addrs.length > 32 ||
        !p.addrs.every((a) => str(a, 512)),
    )
  )
    return ['malformed', 'gave a peer list that is not [{id, addrs: [multiaddr]}]'];
  return undefined;
}

/** Check a ready message's fields (not its proof). */
export function checkReady(r: unknown, job: string, version = WAN_VERSION): [RefusalReason, string] | undefined {
  if (!isObj(r)) return ['malformed', 'ready is not a JSON object'];
  if (r.v !== version)
    return ['version', `speaks WAN rendezvous version ${r.v}, this coordinator speaks ${version}; ${VERSION_HINT}`];
  if (r.job !== job) return ['job', `belongs to job ${JSON.stringify(r.job)?.slice(0, 80)}, not ${job}`];
  if (!str(r.digest, 64) || !/^[0-9a-f]{64}$/.test(r.digest as string))
    return ['malformed', 'ready has no sha256 digest'];
  return undefined;
}
