// The Prometheus registry (prom-client). Values come from the last engine poll (cumulative
// counters, histograms) and the sliding window (quantiles, bandwidth), read at scrape time: the
// hot path never touches JS. Metric names and labels are listed in docs/telemetry.md.
import { Registry } from 'prom-client';
import { CODES } from '../errors.js';
import type { EngineStats } from '../native/addon.js';
import type { HostSample } from './host.js';
import type { LinkState } from './straggler.js';
import { busFactor, type Delta, LE_US, leIndex, type StatsWindow, sizeLabel, summarise } from './window.js';

type Labels = Record<string, string | number>;
interface Value {
  labels: Labels;
  value: number;
  metricName?: string;
}
type Kind = 'counter' | 'gauge' | 'histogram';

/** A metric whose values are computed at scrape time (prom-client's registerMetric contract). */
class Computed {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: Kind,
    private readonly values: () => Value[],
  ) {}
  get() {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: 'sum' };
  }
  reset() {}
}

export const ALGO_LOCAL = 'local-shm'; // the intra-host engine's one algorithm until multi-host lands

export interface MetricsSource {
  job: string;
  stats(): EngineStats | undefined;
  window: StatsWindow;
  stragglers(): Set<number>;
  links(): LinkState[];
  host(): HostSample | undefined;
  arenaBytes: number;
  registered(): number[];
  /** Per codec: calls and bytes before/after compression (engine.compression(), docs/compression.md). */
  compression?(): CompressionCounts;
}

export type CompressionCounts = Record<string, { calls: number; bytesBefore: number; bytesAfter: number }>;

export function makeRegistry(src: MetricsSource): Registry {
  const reg = new Registry();
  const job = src.job;
  const cellLabels = (c: { coll?: string; op?: string; dtype: string; sizeBucket: number }) => {
    const op = c.coll ?? c.op!;
    return { job, op, dtype: op === 'barrier' ? 'none' : c.dtype, size: sizeLabel(c.sizeBucket), algo: ALGO_LOCAL };
  };
  const cells = () => src.stats()?.cells ?? [];
  const add = (name: string, help: string, type: Kind, values: () => Value[]) =>
    reg.registerMetric(new Computed(name, help, type, values) as any);

  add('onet_collective_calls_total', 'Collectives completed, per op, dtype, size bucket and algorithm', 'counter', () =>
    cells().map((c) => ({ labels: cellLabels(c), value: c.calls })),
  );
  add('onet_collective_bytes_total', 'Bytes moved by collectives (nccl-tests "size" per call)', 'counter', () =>
    cells().map((c) => ({ labels: cellLabels(c), value: c.bytes })),
  );
  add(
    'onet_collective_wait_seconds_total',
    'Time from the first rank posting a collective to the last one posting it',
    'counter',
    () => cells().map((c) => ({ labels: cellLabels(c), value: c.waitNs / 1e9 })),
  );
  add(
    'onet_collective_duration_seconds',
    'Time from the last rank posting a collective to its completion',
    'histogram',
    () => {
      const out: Value[] = [];
      for (const c of cells()) {
        const l = cellLabels(c);
        const h = new Map(c.hist);
        let i = 0,
          cum = 0;
        const sorted = [...h.keys()].sort((a, b) => a - b);
        for (let j = 0; j < LE_US.length; j++) {
          while (i < sorted.length && sorted[i] < leIndex(j)) cum += h.get(sorted[i++])!;
          out.push({
            metricName: 'onet_collective_duration_seconds_bucket',
            labels: { ...l, le: LE_US[j] / 1e6 },
            value: cum,
          });
        }
        out.push({
          metricName: 'onet_collective_duration_seconds_bucket',
          labels: { ...l, le: '+Inf' },
          value: c.calls,
        });
        out.push({ metricName: 'onet_collective_duration_seconds_sum', labels: l, value: c.durNs / 1e9 });
        out.push({ metricName: 'onet_collective_duration_seconds_count', labels: l, value: c.calls });
      }
      return out;
    },
  );
  const windowed = (f: (d: Delta, l: Labels) => Value[]) => () =>
    src.window.window().flatMap((d) => f(d, cellLabels(d)));
  add(
    'onet_collective_duration_window_seconds',
    'Duration quantiles (0.5, 0.95, 0.99) over the sliding window',
    'gauge',
    windowed((d, l) => {
      const s = summarise([d], 1);
      return [
        [0.5, s.p50Us],
        [0.95, s.p95Us],
        [0.99, s.p99Us],
      ].map(([q, us]) => ({ labels: { ...l, quantile: q }, value: us / 1e6 }));
    }),
  );
  add(
    'onet_collective_algbw_bytes_per_second',
    'Algorithm bandwidth (size / duration) over the sliding window',
    'gauge',
    windowed((d, l) => [{ labels: l, value: summarise([d], 1).algbw }]),
  );
  add(
    'onet_collective_busbw_bytes_per_second',
    'Bus bandwidth (algbw × nccl-tests factor for the world size) over the sliding window',
    'gauge',
    windowed((d, l) => [{ labels: l, value: summarise([d], 1).algbw * busFactor(d.op, src.stats()?.world ?? 1) }]),
  );
  add('onet_queue_depth', 'Requests posted to the engine and not yet started', 'gauge', () => {
    const s = src.stats();
    return s ? [{ labels: { job }, value: Math.max(0, s.posts - s.completions) }] : [];
  });
  add('onet_errors_total', 'Requests that completed with an error, by code', 'counter', () => {
    const s = src.stats();
    return s
      ? s.errors
          .map((n, i) => ({ labels: { job, code: CODES[i] ?? String(i) }, value: n }))
          .filter((v) => v.labels.code !== 'OK')
      : [];
  });
  const ranks = () => src.stats()?.ranks ?? [];
  add(
    'onet_rank_last_arrivals',
    'Collectives in the straggler window this rank arrived last at (by at least ONET_STRAGGLER_GAP_US)',
    'gauge',
    () => ranks().map((r) => ({ labels: { job, rank: r.rank }, value: r.lateWindow })),
  );
  add(
    'onet_rank_waited_for_seconds_total',
    'Time the other ranks spent waiting for this rank as the last arrival',
    'counter',
    () => ranks().map((r) => ({ labels: { job, rank: r.rank }, value: r.lateNs / 1e9 })),
  );
  add('onet_rank_straggler', '1 while this rank arrives last at most collectives of the window', 'gauge', () => {
    const s = src.stragglers();
    return ranks().map((r) => ({ labels: { job, rank: r.rank }, value: s.has(r.rank) ? 1 : 0 }));
  });
  add(
    'onet_shm_arena_reserved_bytes',
    'Shared-memory data region reserved for each registered rank (ONET_ARENA_BYTES)',
    'gauge',
    () => src.registered().map((r) => ({ labels: { job, rank: r }, value: src.arenaBytes })),
  );
  add('onet_shm_arena_high_water_bytes', "Highest arena offset a rank's requests have used", 'gauge', () =>
    ranks().map((r) => ({ labels: { job, rank: r.rank }, value: r.arenaHighWater })),
  );
  add('onet_link_bytes_total', 'Bytes sent to a peer host (multi-host transport; none on one host)', 'counter', () =>
    src.links().map((k) => ({ labels: { job, peer: k.peer }, value: k.bytes })),
  );
  add('onet_link_retransmits_total', 'Retransmitted messages to a peer host', 'counter', () =>
    src.links().map((k) => ({ labels: { job, peer: k.peer }, value: k.retransmits })),
  );
  add('onet_link_checksum_failures_total', 'Messages from a peer host that failed their checksum', 'counter', () =>
    src.links().map((k) => ({ labels: { job, peer: k.peer }, value: k.checksumFailures })),
  );
  add(
    'onet_link_bandwidth_bytes_per_second',
    'Measured (last interval) and probed bandwidth to a peer host',
    'gauge',
    () =>
      src.links().flatMap((k) => [
        { labels: { job, peer: k.peer, kind: 'measured' }, value: k.measuredBps },
        { labels: { job, peer: k.peer, kind: 'probed' }, value: k.probedBps },
      ]),
  );
  const codecs = () => Object.entries(src.compression?.() ?? {});
  add('onet_compression_calls_total', 'Cross-host allreduces run with a codec, per codec', 'counter', () =>
    codecs().map(([codec, c]) => ({ labels: { job, codec }, value: c.calls })),
  );
  add(
    'onet_compression_bytes_total',
    'Bytes of compressed cross-host allreduces before and after the codec, per codec',
    'counter',
    () =>
      codecs().flatMap(([codec, c]) => [
        { labels: { job, codec, stage: 'before' }, value: c.bytesBefore },
        { labels: { job, codec, stage: 'after' }, value: c.bytesAfter },
      ]),
  );
  add('onet_link_slow', '1 while the measured bandwidth to a peer is well below its probed bandwidth', 'gauge', () =>
    src.links().map((k) => ({ labels: { job, peer: k.peer }, value: k.slow ? 1 : 0 })),
  );
  add('onet_host_cpu_utilisation_ratio', 'Busy fraction of all CPUs of this host over the last sample', 'gauge', () => {
    const h = src.host();
    return h ? [{ labels: { job }, value: h.cpu }] : [];
  });
  add('onet_host_memory_bytes', 'Host memory: total and used', 'gauge', () => {
    const h = src.host();
    return h
      ? [
          { labels: { job, kind: 'total' }, value: h.memTotal },
          { labels: { job, kind: 'used' }, value: h.memUsed },
        ]
      : [];
  });
  add('onet_coordinator_resident_bytes', "The coordinator process's resident memory", 'gauge', () => {
    const h = src.host();
    return h ? [{ labels: { job }, value: h.rss }] : [];
  });
  add(
    'onet_gpu_utilisation_ratio',
    'GPU busy fraction from nvidia-smi (absent without an NVIDIA driver)',
    'gauge',
    () => (src.host()?.gpus ?? []).map((g) => ({ labels: { job, gpu: g.index }, value: g.util })),
  );
  add('onet_gpu_memory_used_bytes', 'GPU memory in use from nvidia-smi', 'gauge', () =>
    (src.host()?.gpus ?? []).map((g) => ({ labels: { job, gpu: g.index }, value: g.memUsed })),
  );
  return reg;
}
