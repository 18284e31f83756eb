// Alpha-beta-gamma cost of every inter-host algorithm in native/algo/algo.h, inside the
// engine's hierarchical structure (local shared-memory phase → inter-host algorithm between
// the P host coordinators → local phase). Formulas: Thakur, Rabenseifner & Gropp, "Optimization
// of Collective Communication Operations in MPICH" (IJHPCA 2005); Chan et al. (2007) for the
// pipelined chain; NCCL's tuning model for the double binary tree. docs/scheduling.md derives
// each one; the comments here name the terms.
//
//   α  latency of one message (µs)          β  µs per byte on the slowest link
//   γ  µs per byte to reduce two buffers     σ  µs per byte of a local shared-memory copy
//   P  hosts   m  local ranks per host   n  bytes (see BYTES_MEANING)   L = ⌈log2 P⌉
import { OnetError } from '../errors.js';
import { ALGORITHMS, CATALOGUE, ONESHOT_MAX_SENT_BYTES } from '../gen/algorithms.js';
import { summarize, type Topology } from '../topology/graph.js';

// The algorithm registry (spec/algorithms.json): CATALOGUE lists the inter-host algorithms the
// selection table chooses between; each registry entry names the formula below that prices it.
export { CATALOGUE, ONESHOT_MAX_SENT_BYTES };
export type Collective = keyof typeof CATALOGUE;
export const COLLECTIVES = Object.keys(CATALOGUE) as Collective[];

/** What `n` means per collective (the full vector each rank holds, like nccl-tests' "size"). */
export const BYTES_MEANING: Record<Collective, string> = {
  allreduce: "bytes of each rank's buffer",
  allgather: 'bytes of the gathered result',
  broadcast: 'bytes broadcast',
  reduce_scatter: "bytes of each rank's full input vector",
  reduce: "bytes of each rank's buffer",
  alltoall: 'bytes each rank sends in all',
  barrier: 'ignored',
};

export interface CostParams {
  P: number; // hosts
  m: number; // local ranks per host (the busiest host)
  alphaUs: number; // α
  betaUs: number; // β, µs per byte
  gammaUs: number; // γ, µs per byte reduced
  sigmaUs: number; // σ, µs per byte copied in shared memory
  shmAlphaUs: number; // one local synchronisation (futex wake / spin hand-off)
}

export interface Cost {
  coll: Collective;
  algo: string;
  bytes: number;
  chunkBytes: number;
  steps: number; // α terms on the critical path
  latencyUs: number; // steps · α
  bandwidthUs: number; // β terms
  reduceUs: number; // γ terms not hidden behind transfers
  localUs: number; // the intra-host phases (equal for every algorithm of a collective)
  totalUs: number;
  formula: string;
}

/** Cost-model inputs from a topology: slowest link, narrowest bandwidth, slowest host memory. */
export function paramsFromTopology(t: Topology): CostParams {
  const s = summarize(t);
  const sigma = 1 / (s.shmGBs * 1e3); // GB/s → µs per byte
  return {
    P: t.hosts.length,
    m: s.ppn,
    alphaUs: s.alphaUs,
    betaUs: Number.isFinite(s.bandwidthGBs) ? 1 / (s.bandwidthGBs * 1e3) : 0,
    // A two-input reduce streams at about copy speed (docs/engine.md: f32 sum k=2 at 1.0× memcpy).
    gammaUs: sigma,
    sigmaUs: sigma,
    shmAlphaUs: 2,
  };
}

export const MIN_CHUNK = 4 << 10,
  MAX_CHUNK = 4 << 20,
  RING_CHUNK = 1 << 20;
const log2c = (P: number) => Math.ceil(Math.log2(P));
const log2f = (P: number) => Math.floor(Math.log2(P));
const pow2ceil = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/** Transfer unit of a non-pipelined algorithm: one per-step block, at most the engine's 1 MiB. */
function blockChunk(n: number, P: number): number {
  return Math.min(RING_CHUNK, Math.max(MIN_CHUNK, pow2ceil(Math.ceil(n / Math.max(1, P)))));
}

/**
 * A pipeline of depth D whose stage costs α + β'c: (D + n/c − 1)(α + β'c), minimised by the
 * classic c* = √(nα / ((D−1)β')) (clamped to [MIN_CHUNK, MAX_CHUNK] and to n). The time uses
 * the continuous optimum, so it is smooth in n; the chunk handed to the engine is c* rounded to
 * a power of two, so it changes only a few times across all sizes.
 */
function pipelined(n: number, D: number, a: number, bPrime: number): { c: number; k: number; stage: number } {
  const ideal = D > 1 && bPrime > 0 ? Math.sqrt((Math.max(n, 1) * a) / ((D - 1) * bPrime)) : MAX_CHUNK;
  const clamped = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, ideal));
  const cm = Math.max(Math.min(clamped, n), 1e-9);
  return { c: 2 ** Math.round(Math.log2(clamped)), k: Math.max(1, n / cm), stage: cm };
}

interface Inter {
  steps: number;
  bw: number;
  red: number;
  chunk: number;
  formula: string;
  extraUs?: number;
}

/** The registry's formula id of (coll, algo), e.g. 'allreduce_ring'. */
export function formulaOf(coll: Collective, algo: string): string | undefined {
  return ALGORITHMS.find((a) => a.collective === coll && a.name === algo)?.formula;
}

/**
 * Whether the engine runs this allreduce as the one-shot exchange (native/algo/hier/oneshot.cc):
 * every host sends its folded vector to every other host in one round, header included, whenever
 * (P − 1)·n ≤ ONESHOT_MAX_SENT_BYTES — before, and regardless of, the selection table.
 */
export function oneshotApplies(coll: Collective, bytes: number, P: number): boolean {
  return coll === 'allreduce' && P > 1 && (P - 1) * bytes <= ONESHOT_MAX_SENT_BYTES;
}

/** The inter-host part of one algorithm on n host-level bytes. */
function inter(coll: Collective, algo: string, n: number, p: CostParams): Inter {
  const { P, alphaUs: a, betaUs: b, gammaUs: g, sigmaUs: s, m } = p;
  const L = log2c(P),
    F = log2f(P),
    Pp = 2 ** F,
    pow2 = Pp === P,
    f = (P - 1) / P;
  const hidden = (bPerByte: number) => Math.max(0, g - bPerByte); // reduce overlapped with a pipelined transfer
  const blk = blockChunk(n, P);
  switch (formulaOf(coll, algo)) {
    case 'allreduce_ring':
      return {
        steps: 2 * (P - 1),
        bw: 2 * f * n * b,
        red: f * n * hidden(b) + Math.min(blk, n / P) * g,
        chunk: blk,
        formula: '2(P−1)α + 2(P−1)/P·nβ + (P−1)/P·n·max(0,γ−β) + cγ',
      };
    case 'allreduce_rabenseifner': {
      const core = { steps: 2 * F, bw: 2 * ((Pp - 1) / Pp) * n * b, red: ((Pp - 1) / Pp) * n * g };
      if (pow2) return { ...core, chunk: blk, formula: '2·log2P·α + 2(P−1)/P·nβ + (P−1)/P·nγ' };
      return {
        steps: core.steps + 2,
        bw: core.bw + 2 * n * b,
        red: core.red + n * g,
        chunk: blk,
        formula: "P'=2^⌊log2P⌋: (α+nβ+nγ) + 2·log2P'·α + 2(P'−1)/P'·nβ + (P'−1)/P'·nγ + (α+nβ)",
      };
    }
    case 'allreduce_dbtree': {
      // NCCL: latency 2·log2i(P)·α, bus-bandwidth ratio ½ (each rank sends and receives 2n over
      // the two trees), pipelined in chunks c: (D + n/c − 1)(α + 2cβ), D = 2⌊log2 P⌋.
      const D = 2 * Math.max(1, F);
      const pl = pipelined(n, D, a, 2 * b);
      return {
        steps: D + pl.k - 1,
        bw: (D + pl.k - 1) * 2 * pl.stage * b,
        red: n * hidden(2 * b) + Math.min(pl.stage, n) * g,
        chunk: pl.c,
        formula: '(2⌊log2P⌋ + n/c − 1)(α + 2cβ) + n·max(0,γ−2β) + cγ, c = √(nα/((D−1)·2β))',
      };
    }
    case 'allgather_ring':
      return { steps: P - 1, bw: f * n * b, red: 0, chunk: blk, formula: '(P−1)α + (P−1)/P·nβ' };
    case 'allgather_recdoubling':
      if (pow2) return { steps: L, bw: f * n * b, red: 0, chunk: blk, formula: 'log2P·α + (P−1)/P·nβ' };
      return {
        steps: F + 2,
        bw: f * n * b + n * b,
        red: 0,
        chunk: blk,
        formula: [
          "P'=2^⌊log2P⌋: (α + n/Pβ) + log2P'·α + (P−1)/P·nβ + (α + nβ)",
          "[fold in/out the P−P' extra hosts]",
        ].join('  '),
      };
    case 'allgather_bruck':
      return {
        steps: L,
        bw: f * n * b,
        red: 0,
        chunk: blk,
        extraUs: n * (1 + 1 / P) * s,
        formula: '⌈log2P⌉α + (P−1)/P·nβ + (1+1/P)·nσ  [local rotations]',
      };
    case 'broadcast_binomial':
      return { steps: L, bw: L * n * b, red: 0, chunk: blk, formula: '⌈log2P⌉(α + nβ)' };
    case 'broadcast_chain': {
      const pl = pipelined(n, P - 1, a, b);
      return {
        steps: P - 2 + pl.k,
        bw: (P - 2 + pl.k) * pl.stage * b,
        red: 0,
        chunk: pl.c,
        formula: '(P − 2 + n/c)(α + cβ), c = √(nα/((P−2)β))',
      };
    }
    case 'reduce_scatter_ring':
      return {
        steps: P - 1,
        bw: f * n * b,
        red: f * n * hidden(b) + Math.min(blk, n / P) * g,
        chunk: blk,
        formula: '(P−1)α + (P−1)/P·nβ + (P−1)/P·n·max(0,γ−β) + cγ',
      };
    case 'reduce_scatter_rechalving': {
      const core = { steps: F, bw: ((Pp - 1) / Pp) * n * b, red: ((Pp - 1) / Pp) * n * g };
      if (pow2) return { ...core, chunk: blk, formula: 'log2P·α + (P−1)/P·n(β+γ)' };
      return {
        steps: F + 2,
        bw: core.bw + n * b + (n / P) * b,
        red: core.red + n * g,
        chunk: blk,
        formula: "P'=2^⌊log2P⌋: (α+nβ+nγ) + log2P'·α + (P'−1)/P'·n(β+γ) + (α + n/P·β)",
      };
    }
    case 'reduce_binomial':
      return { steps: L, bw: L * n * b, red: L * n * g, chunk: blk, formula: '⌈log2P⌉(α + nβ + nγ)' };
    case 'alltoall_pairwise':
      return {
        steps: P - 1,
        bw: f * m * n * b,
        red: 0,
        chunk: blk,
        formula: "(P−1)α + (P−1)/P·m·nβ  [a host sends its m ranks' blocks]",
      };
    case 'barrier_dissemination':
      return { steps: L, bw: 0, red: 0, chunk: 0, formula: '⌈log2P⌉α' };
    case 'allreduce_oneshot':
      return {
        // One round: each host sends its n bytes to the P − 1 others over its one NIC, then reduces P vectors.
        steps: 1,
        bw: (P - 1) * n * b,
        red: (P - 1) * n * g,
        chunk: 0,
        formula: [
          `α + (P−1)·nβ + (P−1)·nγ, while (P−1)·n ≤ ${ONESHOT_MAX_SENT_BYTES} B`,
          "(the engine's one-shot exchange)",
        ].join(' '),
      };
  }
  throw new OnetError('EINVAL', `no cost model for ${coll}:${algo}`);
}

/** The intra-host phases around the inter-host algorithm; identical for every algorithm. */
export function localCost(coll: Collective, n: number, p: CostParams): { us: number; formula: string } {
  const { m, P, sigmaUs: s, gammaUs: g, shmAlphaUs: sa } = p;
  switch (coll) {
    case 'allreduce':
      return { us: 2 * sa + (m - 1) * n * g + m * n * s, formula: 'local reduce (m−1)·nγ + copy-out m·nσ' };
    case 'reduce':
      return { us: 2 * sa + (m - 1) * n * g + n * s, formula: 'local reduce (m−1)·nγ + copy-out nσ' };
    case 'allgather':
      return { us: 2 * sa + m * n * s, formula: 'copy-out m·nσ' };
    case 'broadcast':
      return { us: 2 * sa + m * n * s, formula: 'copy-out m·nσ' };
    case 'reduce_scatter':
      return { us: 2 * sa + (m - 1) * n * g + (n / P) * s, formula: 'local reduce (m−1)·nγ + copy-out (n/P)σ' };
    case 'alltoall':
      return { us: 2 * sa + 2 * m * n * s, formula: 'local shuffles 2·m·nσ' };
    case 'barrier':
      return { us: 2 * sa, formula: '2 local hand-offs' };
  }
}

export function checkAlgo(coll: Collective, algo: string): void {
  if (!(coll in CATALOGUE))
    throw new OnetError('EINVAL', `unknown collective ${JSON.stringify(coll)}; valid: ${COLLECTIVES.join(', ')}`);
  if (coll === 'allreduce' && algo === 'oneshot') return; // an engine path: priced, never in the table
  if (!(CATALOGUE[coll] as readonly string[]).includes(algo))
    throw new OnetError(
      'EINVAL',
      `unknown ${coll} algorithm ${JSON.stringify(algo)}; valid: ${CATALOGUE[coll].join(', ')}`,
    );
}

/** Predicted time of `algo` for `coll` on `bytes` (see BYTES_MEANING) under `p`. */
export function cost(coll: Collective, algo: string, bytes: number, p: CostParams): Cost {
  checkAlgo(coll, algo);
  if (!Number.isFinite(bytes) || bytes < 0)
    throw new OnetError('EINVAL', `bytes must be a non-negative number, got ${bytes}`);
  const local = localCost(coll, bytes, p);
  if (p.P <= 1) {
    return {
      coll,
      algo,
      bytes,
      chunkBytes: blockChunk(bytes, 1),
      steps: 0,
      latencyUs: 0,
      bandwidthUs: 0,
      reduceUs: 0,
      localUs: local.us,
      totalUs: local.us,
      formula: `one host: no inter-host phase; ${local.formula}`,
    };
  }
  const i = inter(coll, algo, bytes, p);
  const latencyUs = i.steps * p.alphaUs;
  const bandwidthUs = i.bw + (i.extraUs ?? 0);
  return {
    coll,
    algo,
    bytes,
    chunkBytes: i.chunk,
    steps: i.steps,
    latencyUs,
    bandwidthUs,
    reduceUs: i.red,
    localUs: local.us,
    totalUs: latencyUs + bandwidthUs + i.red + local.us,
    formula: i.formula,
  };
}

/** Every algorithm of `coll`, fastest first (ties keep catalogue order). */
export function allCosts(coll: Collective, bytes: number, p: CostParams): Cost[] {
  // A tie (0 bytes, or P = 1) goes to the algorithm that is cheaper at twice the size, so the
  // smallest sizes do not pick an algorithm the next size abandons; then catalogue order.
  const next = (a: string) => cost(coll, a, Math.max(1, 2 * bytes), p).totalUs;
  return CATALOGUE[coll]
    .map((a) => cost(coll, a, bytes, p))
    .sort((x, y) => {
      if (!nearlyEqual(x.totalUs, y.totalUs)) return x.totalUs - y.totalUs;
      if (bytes > 2 ** 40) return 0;
      const nx = next(x.algo),
        ny = next(y.algo);
      return nearlyEqual(nx, ny) ? 0 : nx - ny;
    });
}

/** Equal within rounding: a tie keeps catalogue order instead of flipping on the last bit. */
export function nearlyEqual(x: number, y: number): boolean {
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y), 1e-9);
}
