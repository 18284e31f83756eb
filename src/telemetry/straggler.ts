// Congestion and straggler detection. Ranks: the engine counts, over a sliding window of
// collectives, how often each rank posted last by at least ONET_STRAGGLER_GAP_US; a rank last
// at more than half of them is a straggler. Links: recordLink() is the hook the multi-host
// transport calls with per-peer counters; a link whose measured bandwidth falls below half of
// its probed bandwidth is flagged. Both are reported in metrics, the log and the dashboard.
import type { EngineStats } from '../native/addon.js';

export const STRAGGLER_SHARE = 0.5; // last at more than this share of the window
export const STRAGGLER_MIN_SAMPLES = 10;
export const SLOW_LINK_RATIO = 0.5; // measured below this fraction of probed
export const SLOW_LINK_MIN_BYTES = 1 << 20;

/** What the transport reports for one peer: cumulative counters plus its probed bandwidth. */
export interface LinkStats {
  bytes: number;
  seconds: number;
  retransmits?: number;
  checksumFailures?: number;
  probedBps?: number;
}
export interface LinkState {
  peer: string;
  bytes: number;
  retransmits: number;
  checksumFailures: number;
  measuredBps: number;
  probedBps: number;
  slow: boolean;
  at: number;
}

type Say = (level: 'info' | 'warn', msg: string) => void;

export class StragglerDetector {
  private flagged = new Set<number>();
  private readonly links = new Map<string, LinkState & { prevBytes: number; prevSeconds: number }>();
  constructor(private readonly say: Say) {}

  stragglers(): Set<number> {
    return this.flagged;
  }

  /** Re-evaluate after an engine poll; logs when a rank starts or stops straggling. */
  update(s: EngineStats): void {
    const now = new Set<number>();
    const n = s.window.filled;
    if (n >= Math.min(STRAGGLER_MIN_SAMPLES, s.window.size))
      for (const r of s.ranks) if (r.lateWindow / n > STRAGGLER_SHARE) now.add(r.rank);
    for (const r of now)
      if (!this.flagged.has(r)) {
        const st = s.ranks[r];
        this.say(
          'warn',
          `straggler: rank ${r} arrived last (≥ ${s.window.gapNs / 1e6} ms after the others) at ${st.lateWindow} ` +
            `of the last ${n} collectives; ` +
            `the other ranks have waited ${(st.lateNs / 1e9).toFixed(2)} s for it in total — check its host's ` +
            `load, its data loading or its GPU`,
        );
      }
    for (const r of this.flagged)
      if (!now.has(r)) this.say('info', `straggler: rank ${r} no longer arrives last at most collectives`);
    this.flagged = now;
  }

  /** Hook for the multi-host transport: cumulative per-peer counters, called about once a second. */
  recordLink(peer: string, st: LinkStats): LinkState {
    const old = this.links.get(peer);
    const dBytes = st.bytes - (old?.prevBytes ?? 0),
      dSec = st.seconds - (old?.prevSeconds ?? 0);
    const measuredBps = dSec > 0 ? dBytes / dSec : (old?.measuredBps ?? 0);
    const probedBps = st.probedBps ?? old?.probedBps ?? 0;
    const slow = probedBps > 0 && dBytes >= SLOW_LINK_MIN_BYTES && measuredBps < SLOW_LINK_RATIO * probedBps;
    const state = {
      peer,
      bytes: st.bytes,
      retransmits: st.retransmits ?? 0,
      checksumFailures: st.checksumFailures ?? 0,
      measuredBps,
      probedBps,
      slow: dBytes >= SLOW_LINK_MIN_BYTES ? slow : (old?.slow ?? false),
      at: Date.now(),
      prevBytes: st.bytes,
      prevSeconds: st.seconds,
    };
    if (state.slow && !old?.slow)
      this.say(
        'warn',
        `slow link: to ${peer} measured ${(measuredBps / 1e9).toFixed(2)} GB/s, probed ` +
          `${(probedBps / 1e9).toFixed(2)} GB/s — the link is congested or degraded`,
      );
    if (!state.slow && old?.slow)
      this.say('info', `slow link: ${peer} is back above ${SLOW_LINK_RATIO * 100}% of its probed bandwidth`);
    this.links.set(peer, state);
    return state;
  }

  linkStates(): LinkState[] {
    return [...this.links.values()].map(({ prevBytes, prevSeconds, ...l }) => l);
  }
}
