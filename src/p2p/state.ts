// What `onet status` and the dashboard show of an ONET_WAN job's links, refreshed in the
// background by network_wan.ts. Kept apart from the libp2p code so that reading it costs a
// coordinator that never went WAN nothing (this module imports no libp2p).
import type { LinkInfo } from './links.js';

export interface WanSnapshot {
  peerId: string;
  /** ms from the start of the libp2p rendezvous to the agreed host list. */
  meetMs: number;
  links: LinkInfo[];
  /** AutoNAT: 'public' when a peer dialled back one of this host's public addresses. */
  autonat?: { verdict: 'public' | 'unverified' | 'private'; addrs: string[] };
  at: number;
}

let snapshot: WanSnapshot | undefined;
export const setWanSnapshot = (s: WanSnapshot) => {
  snapshot = s;
};
/** This coordinator's WAN links, or undefined when the job did not use ONET_WAN. */
export const wanSnapshot = () => snapshot;
