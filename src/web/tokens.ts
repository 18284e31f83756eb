// One-time join tokens for web ranks. Each reserved rank gets a random token, printed inside its
// join URL; the rank proves it holds it with the register proof of docs/protocol.md §8 (parts
// `register, job, rank, 0`: a page has no pid), and the token is spent once the rank has joined.
import { generateToken, Verifier } from '../security/auth.js';

export class JoinTokens {
  private readonly tokens = new Map<number, string>();
  private readonly used = new Map<number, number>();
  readonly verifier = new Verifier();

  constructor(
    readonly job: string,
    ranks: number[],
  ) {
    for (const r of ranks) this.tokens.set(r, generateToken());
  }

  get ranks(): number[] {
    return [...this.tokens.keys()];
  }

  token(rank: number): string | undefined {
    return this.tokens.get(rank);
  }

  /** '' when the proof holds and the token is unspent (it is spent now), else why not. */
  redeem(rank: number, auth: unknown): string {
    const token = this.tokens.get(rank);
    if (!token) return `rank ${rank} is not a web rank of this job`;
    const when = this.used.get(rank);
    if (when) return `the join token of rank ${rank} was already used at ${new Date(when).toISOString()}`;
    const why = this.verifier.verify(token, auth as never, ['register', this.job, rank, 0]);
    if (!why) this.used.set(rank, Date.now());
    return why;
  }
}
