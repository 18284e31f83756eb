// OnetError: the one error type the TypeScript side throws and returns (STYLE rule 7).
// Codes and numbers match native/common/status.h and docs/protocol.md §7.

export const CODES = ['OK', 'EMISMATCH', 'EINVAL', 'ETIMEDOUT', 'EABORTED', 'ECLOSED', 'ENOTSUP', 'EINTERNAL'] as const;
export type OnetCode = (typeof CODES)[number] | 'EPROTO' | 'EACCES';

export class OnetError extends Error {
  readonly code: OnetCode;
  readonly ranks: number[];
  constructor(code: OnetCode, message: string, ranks: number[] = []) {
    super(message);
    this.name = 'OnetError';
    this.code = code;
    this.ranks = ranks;
  }
  /** From a status number written into a slot by the engine. */
  static fromStatus(status: number, message: string, ranks: number[] = []): OnetError {
    return new OnetError(CODES[status] ?? 'EINTERNAL', message || `status ${status}`, ranks);
  }
  /** From an Error thrown by the addon, whose message starts with "CODE: ". */
  static fromNative(e: unknown): OnetError {
    if (e instanceof OnetError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    const m = /^([A-Z]+): ([\s\S]*)$/.exec(msg);
    if (m && ((CODES as readonly string[]).includes(m[1]) || m[1] === 'EPROTO' || m[1] === 'EACCES')) return new OnetError(m[1] as OnetCode, m[2]);
    return new OnetError('EINTERNAL', msg);
  }
}

/** Ranks named in a message ("rank 3", "rank(s) 1, 2"), for OnetError.ranks. */
export function ranksIn(message: string): number[] {
  const out = new Set<number>();
  for (const m of message.matchAll(/rank(?:\(s\))?s? ((?:\d+)(?:, \d+)*)/g)) for (const n of m[1].split(', ')) out.add(Number(n));
  return [...out].sort((a, b) => a - b);
}
