// Protocol v1 control-message validation (docs/protocol.md §2). The enums and the byte layout
// are generated from spec/enums.json and spec/layout.json (src/gen/); this module re-exports them
// under the names the coordinator and src/api use.
import { OnetError } from '../errors.js';
import { PROTOCOL_VERSION } from '../gen/enums.js';
import { ARENA, GEOMETRY, SLOT, SLOT_MSG_BYTES, SLOT_STATE } from '../gen/layout.js';

export { COLL, type Coll, DTYPE_SIZE, DTYPES, type DType, PROTOCOL_VERSION, REDOPS, type RedOp } from '../gen/enums.js';

export const LAYOUT = {
  slots: GEOMETRY.numSlots,
  slotsOffset: GEOMETRY.slotsOffset,
  slotBytes: GEOMETRY.slotBytes,
  slotMsgOffset: SLOT.msg,
  dataOffset: GEOMETRY.dataOffset,
  postCount: ARENA.postCount,
  doneFutex: ARENA.doneFutex,
  rankWaiting: ARENA.rankWaiting,
  slotMsgBytes: SLOT_MSG_BYTES,
  slotRanksOffset: SLOT.ranks,
  slotMaxRanks: GEOMETRY.slotMaxRanks,
  slot: SLOT,
  state: SLOT_STATE,
} as const;

/** HMAC proof of a token (src/security/auth.ts, docs/protocol.md §8); optional while no token is set. */
export interface AuthField {
  ts: number;
  nonce: string;
  mac: string;
}
export interface RegisterMsg {
  v: 1;
  type: 'register';
  job: string;
  rank: number;
  world: number;
  localRank: number;
  localWorld: number;
  pid: number;
  framework: string;
  /** The rank can run the rank-side fast lane of this protocol version (docs/protocol.md §2); absent: cannot. */
  fastlane?: number;
  id?: unknown;
  auth?: AuthField;
}
export type ControlMsg =
  | RegisterMsg
  | { v: 1; type: 'mapped' | 'ping' | 'close'; id?: unknown }
  | { v: 1; type: 'status' | 'abort'; id?: unknown; auth?: AuthField }
  | { v: 1; type: 'group'; group: number; ranks: number[]; exclude?: number[]; id?: unknown }
  | { v: 1; type: 'post'; slot: number; id?: unknown }
  | { v: 1; type: 'lane'; ranks: number[]; id?: unknown };

const isInt = (x: unknown, lo = 0, hi = 2 ** 31 - 1) =>
  Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;
/** A non-empty list of distinct ranks in increasing order (a communicator's members). */
const isSortedRanks = (x: unknown) =>
  Array.isArray(x) && x.length > 0 && x.every((r, i) => isInt(r) && (i === 0 || r > x[i - 1]));

/**
 * Parse and check one control frame. Returns the message, or throws an OnetError (EINVAL, or EPROTO
 * for another version) naming the offending field — the coordinator answers with its code and message.
 */
export function parseControl(frame: Buffer | Uint8Array): ControlMsg {
  let m: any;
  try {
    m = JSON.parse(Buffer.from(frame).toString('utf8'));
  } catch {
    throw new OnetError(
      'EINVAL',
      `control frame of ${frame.length} bytes is not JSON (protocol v${PROTOCOL_VERSION}, docs/protocol.md §2)`,
    );
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m))
    throw new OnetError('EINVAL', 'control frame must be a JSON object');
  if (m.v !== PROTOCOL_VERSION)
    throw new OnetError(
      'EPROTO',
      `protocol version ${JSON.stringify(m.v)} is not supported; this coordinator speaks v${PROTOCOL_VERSION} — ` +
        `upgrade the client or the coordinator so they match`,
    );
  const need = (k: string, ok: boolean, what: string) => {
    if (!ok)
      throw new OnetError('EINVAL', `${m.type} message: field "${k}" must be ${what}, got ${JSON.stringify(m[k])}`);
  };
  const auth = () =>
    m.auth === undefined ||
    need(
      'auth',
      m.auth !== null &&
        typeof m.auth === 'object' &&
        Number.isFinite(m.auth.ts) &&
        typeof m.auth.nonce === 'string' &&
        m.auth.nonce.length <= 64 &&
        typeof m.auth.mac === 'string' &&
        m.auth.mac.length <= 128,
      '{ts, nonce, mac} (docs/protocol.md §8)',
    );
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
      need('fastlane', m.fastlane === undefined || isInt(m.fastlane, 1, 65535), 'a fast-lane version 1..65535');
      if (m.rank >= m.world)
        throw new OnetError(
          'EINVAL',
          `register: rank ${m.rank} is out of range for world size ${m.world} (ranks are 0..${m.world - 1})`,
        );
      return m;
    case 'group':
      need('group', isInt(m.group, 1, 2 ** 32 - 1), 'an integer ≥ 1 (0 is the world)');
      need('ranks', isSortedRanks(m.ranks), 'a sorted list of distinct ranks');
      need(
        'exclude',
        m.exclude === undefined ||
          (Array.isArray(m.exclude) &&
            m.exclude.every((r: unknown) => isInt(r)) &&
            !m.exclude.some((r: number) => m.ranks.includes(r))),
        'a list of ranks not in "ranks" (shrink with abort)',
      );
      return m;
    case 'post':
      need('slot', isInt(m.slot, 0, 63), 'a slot index 0..63');
      return m;
    case 'lane':
      need('ranks', isSortedRanks(m.ranks), 'a sorted list of distinct ranks (a communicator: the world or a group)');
      return m;
    case 'mapped':
    case 'status':
    case 'ping':
    case 'close':
    case 'abort':
      auth();
      return m;
    default:
      throw new OnetError(
        'EINVAL',
        `unknown message type ${JSON.stringify(m.type)} (known: register, mapped, group, post, lane, status, ping, ` +
          `close, abort)`,
      );
  }
}
