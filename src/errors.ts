// OnetError: the one error type the TypeScript side throws and returns (STYLE rule 7: errors are
// data). Codes, numbers and hints come from spec/errors.json (src/gen/errors.ts); `code` and
// `ranks` always arrive as fields — from the addon (bindings/node/status_error.cc), a slot's
// status word and rank list, or a control message — and nothing here reads them out of text.
import { codeOfNumber, ERROR_CODES, ERROR_INFO, type ErrorCode, isErrorCode } from './gen/errors.js';

/** Every code, indexed by its number (CODES[3] === 'ETIMEDOUT'). */
export const CODES = ERROR_CODES;
export type OnetCode = ErrorCode;
export { ERROR_INFO };

export class OnetError extends Error {
  readonly code: OnetCode;
  readonly ranks: number[];
  constructor(code: OnetCode, message: string, ranks: readonly number[] = []) {
    super(message);
    this.name = 'OnetError';
    this.code = code;
    this.ranks = [...ranks];
  }
  /** The code's number (spec/errors.json), as in a slot's status word. */
  get status(): number {
    return ERROR_INFO[this.code].number;
  }
  /** What to do about this kind of error (spec/errors.json `hint`). */
  get hint(): string {
    return ERROR_INFO[this.code].hint;
  }
  /** From a completed slot or a `done` event: the status number, the message and the rank list. */
  static fromStatus(status: number, message: string, ranks: readonly number[] = []): OnetError {
    const code = codeOfNumber(status);
    if (code === undefined || code === 'OK') {
      const what = `${message || 'a request failed'} (unknown status ${status}: a bug, please report it)`;
      return new OnetError('EINTERNAL', what, ranks);
    }
    return new OnetError(code, message || ERROR_INFO[code].meaning, ranks);
  }
  /** From an error object carrying `code` and `ranks` fields (the addon's, a control `error` reply). */
  static fromFields(f: { code?: unknown; message?: unknown; ranks?: unknown }): OnetError {
    const message = typeof f.message === 'string' ? f.message : String(f.message ?? '');
    const ranks = Array.isArray(f.ranks) ? f.ranks.filter((r): r is number => Number.isInteger(r)) : [];
    if (isErrorCode(f.code) && f.code !== 'OK') return new OnetError(f.code, message, ranks);
    return new OnetError('EINTERNAL', `${message} (no error code attached: a bug, please report it)`, ranks);
  }
  /**
   * Anything thrown across the addon boundary: an OnetError as is, an addon Error by its `code` and
   * `ranks` fields (status_error.cc sets both; a Node system error such as fs's EACCES has no `ranks`).
   */
  static fromNative(e: unknown): OnetError {
    if (e instanceof OnetError) return e;
    const f = e as { code?: unknown; ranks?: unknown };
    if (e instanceof Error && isErrorCode(f.code) && Array.isArray(f.ranks)) return OnetError.fromFields(e);
    return new OnetError('EINTERNAL', e instanceof Error ? e.message : String(e));
  }
}
