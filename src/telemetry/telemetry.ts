// Telemetry for one coordinator: polls the engine's native counters about once a second (only
// when metrics, the dashboard or tracing is on), feeds the Prometheus registry, the straggler
// detector, the trace file and the dashboard's SSE stream. Nothing here runs per collective.
import type { Server } from 'node:http';
import { setting } from '../config/settings.js';
import { CODES } from '../errors.js';
import type { Engine, EngineConfig, EngineEvent, EngineStats } from '../native/addon.js';
import { wanSnapshot } from '../p2p/state.js';
import { type HostSample, HostSampler } from './host.js';
import { closeAll, listen, parsePort } from './http.js';
import { type CompressionCounts, makeRegistry } from './metrics.js';
import { SseHub } from './sse.js';
import { type LinkState, type LinkStats, StragglerDetector } from './straggler.js';
import { TraceWriter } from './trace.js';
import { busFactor, type Delta, StatsWindow, summarise } from './window.js';

export const POLL_MS = 1000;
export const WINDOW_S = 60;

export interface RankView {
  rank: number;
  pid: number;
  framework: string;
  state: string;
}
export interface PendingView {
  group: number;
  seq: number;
  ageMs: number;
  coll?: string;
  arrived: number[];
  missing: number[];
}

export interface TelemetryHost {
  job: string;
  env: NodeJS.ProcessEnv;
  log: (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => void;
  engine(): Engine | undefined;
  ranks(): RankView[];
  pending(): PendingView[];
  arenaBytes: number;
}

export interface TelemetrySettings {
  host: string;
  metricsPort?: number;
  dashboardPort?: number;
  trace: string;
  window: number;
  gapUs: number;
}

export function telemetrySettings(env: NodeJS.ProcessEnv): TelemetrySettings {
  return {
    host: setting('metricsHost', env) as string,
    metricsPort: parsePort(setting('metricsPort', env) as string, 'ONET_METRICS_PORT'),
    dashboardPort: parsePort(setting('dashboardPort', env) as string, 'ONET_DASHBOARD_PORT'),
    trace: setting('trace', env) as string,
    window: setting('stragglerWindow', env) as number,
    gapUs: setting('stragglerGapUs', env) as number,
  };
}

/** Engine config fields for telemetry: counters only when something will read them. */
export function engineTelemetry(
  env: NodeJS.ProcessEnv,
): Pick<EngineConfig, 'stats' | 'trace' | 'stragglerWindow' | 'stragglerGapUs'> {
  const s = telemetrySettings(env);
  const on = s.metricsPort !== undefined || s.dashboardPort !== undefined || s.trace !== '';
  return {
    stats: on,
    trace: s.trace !== '',
    stragglerWindow: Math.max(1, s.window),
    stragglerGapUs: Math.max(0, s.gapUs),
  };
}

export function parseStats(engine: Engine | undefined): EngineStats | undefined {
  if (!engine) return undefined;
  try {
    return JSON.parse(engine.stats()) as EngineStats;
  } catch {
    return undefined;
  }
}

/** The engine's per-codec byte counts; {} without an engine or a build without compression. */
export function parseCompression(engine: Engine | undefined): CompressionCounts {
  if (!engine || typeof engine.compression !== 'function') return {};
  try {
    return (JSON.parse(engine.compression()) as { codecs?: CompressionCounts }).codecs ?? {};
  } catch {
    return {};
  }
}

/** Each rank's last completed collective, for `onet status` (kept by the engine even with telemetry off). */
export function lastOps(st: EngineStats | undefined) {
  return (st?.ranks ?? []).map((r) => ({
    rank: r.rank,
    coll: r.lastColl,
    group: r.lastGroup,
    seq: r.lastSeq,
    agoMs: r.lastDoneNs ? Math.round((st!.nowNs - r.lastDoneNs) / 1e6) : null,
  }));
}

interface ErrorEntry {
  t: number;
  code: string;
  ranks: number[];
  message: string;
}
export interface OpPoint {
  op: string;
  calls: number;
  callsPerS: number;
  bytesPerS: number;
  algbw: number;
  busbw: number;
  p50Us: number | null;
  p95Us: number | null;
  p99Us: number | null;
}

const finite = (x: number) => (Number.isFinite(x) ? x : null);

export class Telemetry {
  readonly urls: { metrics?: string; dashboard?: string } = {};
  private readonly window = new StatsWindow(WINDOW_S);
  private readonly straggler: StragglerDetector;
  private readonly hostSampler: HostSampler;
  private hostSample?: HostSample;
  private scraped?: EngineStats; // the freshest engine read (poll or scrape)
  private readonly sse = new SseHub();
  private servers: Server[] = [];
  private timer?: NodeJS.Timeout;
  private tracer?: TraceWriter;
  private readonly errors: ErrorEntry[] = [];
  private lastPoll = Date.now();
  private intervalS = 1;
  private readonly started = Date.now();
  private stopped = false;

  private constructor(private readonly h: TelemetryHost) {
    this.straggler = new StragglerDetector((level, msg) => h.log(level, msg));
    this.hostSampler = new HostSampler(h.env);
  }

  /** Start what the settings ask for; undefined when telemetry is off. */
  static async start(h: TelemetryHost): Promise<Telemetry | undefined> {
    const s = telemetrySettings(h.env);
    if (s.metricsPort === undefined && s.dashboardPort === undefined && !s.trace) return undefined;
    const t = new Telemetry(h);
    const ports = [s.metricsPort, s.dashboardPort].filter((p): p is number => p !== undefined);
    if (ports.length) {
      const registry = makeRegistry({
        job: h.job,
        stats: () => t.scraped ?? t.window.latest(),
        window: t.window,
        stragglers: () => t.straggler.stragglers(),
        links: () => t.straggler.linkStates(),
        host: () => t.hostSample,
        compression: () => parseCompression(h.engine()),
        arenaBytes: h.arenaBytes,
        registered: () =>
          h
            .ranks()
            .filter((r) => r.state === 'live')
            .map((r) => r.rank),
      });
      const { servers, urls } = await listen(s.host, ports, {
        registry,
        sse: t.sse,
        state: () => t.state(),
        refresh: () => {
          t.scraped = parseStats(h.engine()) ?? t.scraped;
        },
      });
      t.servers = servers;
      const at = (p?: number) => (p === undefined ? undefined : urls[[...new Set(ports)].indexOf(p)]);
      t.urls.metrics = at(s.metricsPort ?? s.dashboardPort) + '/metrics';
      t.urls.dashboard = at(s.dashboardPort ?? s.metricsPort) + '/';
      h.log('info', `telemetry: metrics at ${t.urls.metrics}, dashboard at ${t.urls.dashboard}`);
    }
    if (s.trace) {
      t.tracer = new TraceWriter(s.trace, h.job);
      h.log('info', `telemetry: writing a Chrome-trace timeline to ${s.trace}`);
    }
    t.hostSample = t.hostSampler.sample();
    t.timer = setInterval(() => t.poll(), POLL_MS);
    t.timer.unref();
    return t;
  }

  /** Hook for the multi-host transport (see straggler.ts). */
  recordLink(peer: string, st: LinkStats): LinkState {
    return this.straggler.recordLink(peer, st);
  }

  /** An engine completion with an error: kept for the dashboard's "recent errors". */
  onError(e: EngineEvent): void {
    const code = CODES[e.status] ?? 'EINTERNAL';
    const last = this.errors[this.errors.length - 1];
    if (last && last.message === e.message && Date.now() - last.t < 2000) {
      if (!last.ranks.includes(e.rank)) last.ranks.push(e.rank);
      return;
    }
    this.errors.push({ t: Date.now(), code, ranks: [e.rank], message: e.message });
    if (this.errors.length > 50) this.errors.shift();
  }

  /** Read the engine's counters once; called every POLL_MS and on stop. */
  poll(): void {
    const engine = this.h.engine();
    const now = Date.now();
    this.intervalS = Math.max(0.001, (now - this.lastPoll) / 1000);
    this.lastPoll = now;
    const st = parseStats(engine);
    if (st) {
      this.scraped = st;
      this.window.push(st, now);
      this.straggler.update(st);
    }
    if (this.tracer && engine) {
      try {
        this.tracer.add(engine.drainTrace());
      } catch (e) {
        this.h.log('warn', `trace: ${(e as Error).message}`);
      }
    }
    if (engine && typeof engine.links === 'function') this.pollLinks(engine);
    this.hostSample = this.hostSampler.sample();
    if (this.sse.size) this.sse.send('state', this.state());
  }

  // The multi-host transport's per-peer counters (native/transport LinkStats). They carry no
  // busy time yet, so no measured bandwidth and no slow-link verdict: that needs `seconds`.
  private pollLinks(engine: Engine): void {
    try {
      for (const l of JSON.parse(engine.links()) as {
        peer: number;
        bytesSent: number;
        retransmits: number;
        checksumFailures: number;
      }[])
        this.recordLink(`host${l.peer}`, {
          bytes: l.bytesSent,
          seconds: 0,
          retransmits: l.retransmits,
          checksumFailures: l.checksumFailures,
        });
    } catch (e) {
      this.h.log('debug', `telemetry: links: ${(e as Error).message}`);
    }
  }

  /** Everything the dashboard shows, as one JSON-able object. */
  state() {
    const st = this.window.latest();
    const P = st?.world ?? 0;
    const byOp = (ds: Delta[]) => {
      const m = new Map<string, Delta[]>();
      for (const d of ds) m.set(d.op, [...(m.get(d.op) ?? []), d]);
      return m;
    };
    const ops: OpPoint[] = [];
    const interval = this.window.interval();
    for (const [op, ds] of byOp(interval)) {
      const s = summarise(ds, P, op);
      ops.push({
        op,
        calls: s.calls,
        callsPerS: s.calls / this.intervalS,
        bytesPerS: s.bytes / this.intervalS,
        algbw: s.algbw,
        busbw: s.busbw,
        p50Us: finite(s.p50Us),
        p95Us: finite(s.p95Us),
        p99Us: finite(s.p99Us),
      });
    }
    const all = summarise(interval, P);
    const win = [...byOp(this.window.window())].map(([op, ds]) => {
      const s = summarise(ds, P, op);
      return {
        op,
        calls: s.calls,
        algbw: s.algbw,
        busbw: s.busbw,
        p50Us: finite(s.p50Us),
        p95Us: finite(s.p95Us),
        p99Us: finite(s.p99Us),
      };
    });
    const pending = this.h.pending();
    const stragglers = this.straggler.stragglers();
    const last = new Map(lastOps(st).map((l) => [l.rank, l]));
    const lateOf = new Map((st?.ranks ?? []).map((r) => [r.rank, r]));
    const ranks = this.h
      .ranks()
      .sort((a, b) => a.rank - b.rank)
      .map((r) => {
        const p = pending.find((x) => x.arrived.includes(r.rank));
        const l = last.get(r.rank),
          late = lateOf.get(r.rank);
        return {
          ...r,
          op: p ? `${p.coll ?? 'collective'} #${p.seq}${p.group ? ` (group ${p.group})` : ''}` : null,
          waitingS: p ? p.ageMs / 1000 : null,
          waitingFor: p ? p.missing : [],
          lastOp: l?.coll ? `${l.coll} #${l.seq}` : null,
          lastAgoS: l?.agoMs != null ? l.agoMs / 1000 : null,
          lateShare: late && st?.window.filled ? late.lateWindow / st.window.filled : 0,
          straggler: stragglers.has(r.rank),
        };
      });
    const totals = { calls: 0, bytes: 0 };
    for (const c of st?.cells ?? []) {
      totals.calls += c.calls;
      totals.bytes += c.bytes;
    }
    return {
      job: this.h.job,
      world: P || this.h.ranks().length,
      t: Date.now(),
      uptimeS: (Date.now() - this.started) / 1000,
      totals: {
        ...totals,
        callsPerS: all.calls / this.intervalS,
        bytesPerS: all.bytes / this.intervalS,
        queueDepth: st ? Math.max(0, st.posts - st.completions) : 0,
        errors: st ? st.errors.slice(1).reduce((a, b) => a + b, 0) : 0,
      },
      latency: { p50Us: finite(all.p50Us), p95Us: finite(all.p95Us), p99Us: finite(all.p99Us) },
      ops,
      window: { seconds: WINDOW_S, ops: win, stragglerWindow: st?.window ?? null },
      ranks,
      pending,
      stragglers: [...stragglers],
      links: this.straggler.linkStates(),
      host: this.hostSample,
      errors: this.errors.slice(-20).reverse(),
      topology: {
        hosts: [
          { name: this.hostSample?.host ?? 'this host', coordinator: process.pid, ranks: ranks.map((r) => r.rank) },
        ],
        links: this.straggler
          .linkStates()
          .map((l) => ({ peer: l.peer, load: l.probedBps ? l.measuredBps / l.probedBps : null, slow: l.slow })),
      },
      busFactor: P ? busFactor('allreduce', P) : 1,
      wan: wanSnapshot() ?? null, // ONET_WAN: each link's kind, round trip and measured bandwidth
    };
  }

  /** Final poll (drains the trace) and close the servers; call before the engine closes. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.poll();
    this.tracer?.close();
    if (this.tracer)
      this.h.log(
        'info',
        `telemetry: trace of ${this.tracer.count} collective(s) written to ` +
          `${this.tracer.path}` +
          `${this.tracer.dropped ? ` (${this.tracer.dropped} more not traced: over 8192 a second)` : ''}`,
      );
    this.sse.close();
    await closeAll(this.servers);
  }
}
