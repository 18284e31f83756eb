// The web endpoint's decoder: one WebSocket message from a browser or Pyodide rank, checked
// against spec/web.json before anything acts on it. Anything off throws an OnetError naming
// what was wrong; the session answers that client only (test/web_fuzz.test.ts feeds it garbage).
import type { TypedArray } from '../api/tensor.js';
import { decodeTensor } from '../browser/tensor_frame.js';
import { OnetError } from '../errors.js';
import { DTYPES, type DType, REDOPS } from '../gen/enums.js';
import {
  type ClientCall,
  type ClientClose,
  type ClientPing,
  type ClientRegister,
  WEB,
  WEB_CLIENT_FIELDS,
  WEB_COLLECTIVES,
} from '../gen/web.js';

export type ClientMsg = ClientRegister | ClientCall | ClientPing | ClientClose;

function fieldOk(v: unknown, t: string): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string' && v.length <= 4096;
    case 'int':
      return Number.isSafeInteger(v);
    case 'object':
      return !!v && typeof v === 'object' && !Array.isArray(v);
    case 'int[]':
      return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x));
    default:
      return false;
  }
}

/** Check a parsed JSON value as a client message of spec/web.json. */
export function checkMessage(m: unknown): ClientMsg {
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new OnetError('EINVAL', 'a frame is not a JSON object');
  const o = m as Record<string, unknown>;
  if (o.v !== WEB.version)
    throw new OnetError(
      o.v === undefined ? 'EINVAL' : 'EPROTO',
      `frame has protocol version ${JSON.stringify(o.v)}; this coordinator speaks v${WEB.version}`,
    );
  const fields = typeof o.type === 'string' ? WEB_CLIENT_FIELDS[o.type] : undefined;
  if (!fields || !Object.hasOwn(WEB_CLIENT_FIELDS, o.type as string))
    throw new OnetError(
      'EINVAL',
      `unknown message type ${JSON.stringify(o.type)}; want one of ${Object.keys(WEB_CLIENT_FIELDS).join(', ')}`,
    );
  for (const [f, t] of Object.entries(fields)) {
    const opt = t.endsWith('?');
    if (o[f] === undefined && opt) continue;
    if (!fieldOk(o[f], t.replace(/\?$/, '')))
      throw new OnetError(
        'EINVAL',
        `${o.type}: field ${f} must be ${t.replace(/\?$/, '')}, got ${JSON.stringify(o[f])}`,
      );
  }
  if (o.type === 'call') checkCall(o as unknown as ClientCall);
  return o as unknown as ClientMsg;
}

function checkCall(c: ClientCall): void {
  if (!Object.hasOwn(WEB_COLLECTIVES, c.coll))
    throw new OnetError(
      'EINVAL',
      `call ${c.id}: unknown collective ${JSON.stringify(c.coll)}; use ${Object.keys(WEB_COLLECTIVES).join(', ')}`,
    );
  if (!DTYPES.includes(c.dtype as DType))
    throw new OnetError('EINVAL', `call ${c.id}: unknown dtype ${JSON.stringify(c.dtype)}`);
  if (c.count < 0) throw new OnetError('EINVAL', `call ${c.id}: count ${c.count} is negative`);
  if (c.op !== undefined && !REDOPS.includes(c.op as (typeof REDOPS)[number]))
    throw new OnetError('EINVAL', `call ${c.id}: unknown reduce op ${JSON.stringify(c.op)}`);
}

/** A text frame: JSON of one client message. */
export function decodeText(text: string): ClientMsg {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new OnetError(
      'EINVAL',
      `a text frame is not JSON (${text.length} characters starting ${JSON.stringify(text.slice(0, 40))})`,
    );
  }
  return checkMessage(m);
}

export interface TensorCall {
  call: ClientCall;
  values: TypedArray;
}

/** A binary frame: a tensor frame whose schema matches the call it carries (dtype and count). */
export function decodeBinary(bytes: Uint8Array): TensorCall {
  const t = decodeTensor('onet:call', bytes);
  const call = checkMessage(t.meta) as ClientCall;
  if (call.type !== 'call') throw new OnetError('EINVAL', `a tensor frame carries a ${call.type} message, not a call`);
  if (call.dtype !== t.dtype || call.count !== t.values.length)
    throw new OnetError(
      'EINVAL',
      `call ${call.id} (${call.coll}): the Arrow schema does not match the call: the call says ` +
        `${call.count} × ${call.dtype}, the tensor holds ${t.values.length} × ${t.dtype}`,
    );
  return { call, values: t.values };
}
