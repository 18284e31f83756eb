// Protocol v1 constants and control-message validation (docs/protocol.md). The byte layout
// numbers mirror native/shm/layout.h.

export const PROTOCOL_VERSION = 1;

export const DTYPES = ['f32', 'f64', 'f16', 'bf16', 'i8', 'u8', 'i32', 'i64'] as const;
export type DType = (typeof DTYPES)[number];
export const DTYPE_SIZE: Record<DType, number> = { f32: 4, f64: 8, f16: 2, bf16: 2, i8: 1, u8: 1, i32: 4, i64: 8 };

export const REDOPS = ['sum', 'prod', 'min', 'max', 'avg', 'band', 'bor', 'bxor', 'premul_sum'] as const;
export type RedOp = (typeof REDOPS)[number];

export const COLL = {
  allreduce: 1, reduce: 2, broadcast: 3, allgather: 4, allgatherv: 5, reduce_scatter: 6, reduce_scatterv: 7,
  alltoall: 8, alltoallv: 9, gather: 10, scatter: 11, barrier: 12, send: 13, recv: 14,
} as const;
export type Coll = keyof typeof COLL;

export const LAYOUT = {
  slots: 64, slotsOffset: 1024, slotBytes: 512, slotMsgOffset: 128, dataOffset: 65536,
  postCount: 64, doneFutex: 128, rankWaiting: 132,
  slot: { state: 0, status: 4, seq: 8, coll: 16, dtype: 20, redop: 24, root: 28, count: 32, inOff: 40, outOff: 48,
    auxOff: 56, group: 64, tag: 68, scale: 72, src: 80, flags: 84, outCount: 88 },
  state: { free: 0, posted: 1, done: 2, error: 3 },
} as const;

/** HMAC proof of a token (src/security/auth.ts, docs/protocol.md §8); optional while no token is set. */
export interface AuthField { ts: number; nonce: string; mac: string }
export interface RegisterMsg { v: 1; type: 'register'; job: string; rank: number; world: number; localRank: number; localWorld: number; pid: number; framework: string; id?: unknown; auth?: AuthField }
export type ControlMsg =
  | RegisterMsg
  | { v: 1; type: 'mapped' | 'ping' | 'close'; id?: unknown }
  | { v: 1; type: 'status' | 'abort'; id?: unknown; auth?: AuthField }
  | { v: 1; type: 'group'; group: number; ranks: number[]; id?: unknown }
  | { v: 1; type: 'post'; slot: number; id?: unknown };

const isInt = (x: unknown, lo = 0, hi = 2 ** 31 - 1) => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;

/**
 * Parse and check one control frame. Returns the message, or throws an Error whose message
 * starts with EINVAL/EPROTO and names the offending field — the coordinator answers with it.
 */
export function parseControl(frame: Buffer | Uint8Array): ControlMsg {
  let m: any;
  try {
    m = JSON.parse(Buffer.from(frame).toString('utf8'));
  } catch {
    throw new Error(`EINVAL: control frame of ${frame.length} bytes is not JSON (protocol v${PROTOCOL_VERSION}, docs/protocol.md §2)`);
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new Error('EINVAL: control frame must be a JSON object');
  if (m.v !== PROTOCOL_VERSION) throw new Error(`EPROTO: protocol version ${JSON.stringify(m.v)} is not supported; this coordinator speaks v${PROTOCOL_VERSION} — upgrade the client or the coordinator so they match`);
  const need = (k: string, ok: boolean, what: string) => {
    if (!ok) throw new Error(`EINVAL: ${m.type} message: field "${k}" must be ${what}, got ${JSON.stringify(m[k])}`);
  };
  const auth = () => m.auth === undefined ||
    need('auth', m.auth !== null && typeof m.auth === 'object' && Number.isFinite(m.auth.ts) && typeof m.auth.nonce === 'string' &&
      m.auth.nonce.length <= 64 && typeof m.auth.mac === 'string' && m.auth.mac.length <= 128, '{ts, nonce, mac} (docs/protocol.md §8)');
  switch (m.type) {
    case 'register':
      auth();
      need('job', typeof m.job === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(m.job), 'a job id of 1-64 [A-Za-z0-9_.-]');
      need('world', isInt(m.world, 1, 1 << 20), 'an integer ≥ 1');
      need('rank', isInt(m.rank), 'an integer ≥ 0');
      need('localRank', isInt(m.localRank), 'an integer ≥ 0');
      need('localWorld', isInt(m.localWorld, 1, 1 << 20), 'an integer ≥ 1');
      need('pid', isInt(m.pid, 1), 'a process id');
      need('framework', typeof m.framework === 'string' && m.framework.length < 64, 'a short string');
      if (m.rank >= m.world) throw new Error(`EINVAL: register: rank ${m.rank} is out of range for world size ${m.world} (ranks are 0..${m.world - 1})`);
      return m;
    case 'group':
      need('group', isInt(m.group, 1, 2 ** 32 - 1), 'an integer ≥ 1 (0 is the world)');
      need('ranks', Array.isArray(m.ranks) && m.ranks.length > 0 && m.ranks.every((r: unknown) => isInt(r)) &&
        m.ranks.every((r: number, i: number) => i === 0 || r > m.ranks[i - 1]), 'a sorted list of distinct ranks');
      return m;
    case 'post':
      need('slot', isInt(m.slot, 0, 63), 'a slot index 0..63');
      return m;
    case 'mapped': case 'status': case 'ping': case 'close': case 'abort':
      auth();
      return m;
    default:
      throw new Error(`EINVAL: unknown message type ${JSON.stringify(m.type)} (known: register, mapped, group, post, status, ping, close, abort)`);
  }
}
