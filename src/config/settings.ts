// The one registry of settings (STYLE rule 6): name, env var, default, meaning. `onet config`
// prints it; the coordinator, the Node API and the CLI read values only through `setting()`.
// The Python client reads the same env vars with the same defaults (python/opennetworks/_env.py).

export type SettingKind = 'int' | 'bytes' | 'string' | 'bool';

export interface Setting {
  env: string;
  kind: SettingKind;
  def: string;
  meaning: string;
}

export const SETTINGS = {
  jobId: { env: 'ONET_JOB_ID', kind: 'string', def: '', meaning: 'job id; else TORCHELASTIC_RUN_ID, SLURM_JOB_ID, MASTER_ADDR:MASTER_PORT, or "default"' },
  runDir: { env: 'ONET_RUN_DIR', kind: 'string', def: '', meaning: 'directory for control sockets (default $XDG_RUNTIME_DIR/onet or /tmp/onet-<uid>), mode 0700' },
  arenaBytes: { env: 'ONET_ARENA_BYTES', kind: 'bytes', def: '256MiB', meaning: 'shared-memory data region per rank; largest tensor a collective can use' },
  engineThreads: { env: 'ONET_ENGINE_THREADS', kind: 'int', def: '0', meaning: 'engine threads that reduce and copy (0 = one per core, at most 8)' },
  chunkBytes: { env: 'ONET_CHUNK_BYTES', kind: 'bytes', def: '256KiB', meaning: 'work unit an engine thread takes at a time' },
  parallelBytes: { env: 'ONET_PARALLEL_BYTES', kind: 'bytes', def: '1MiB', meaning: 'collectives touching fewer bytes run on one engine thread' },
  spinUs: { env: 'ONET_SPIN_US', kind: 'int', def: '50', meaning: 'microseconds to spin before sleeping on a futex (ranks and coordinator)' },
  timeoutS: { env: 'ONET_TIMEOUT', kind: 'int', def: '300', meaning: 'seconds a collective may wait for its peers before every waiting rank gets ETIMEDOUT' },
  connectTimeoutS: { env: 'ONET_CONNECT_TIMEOUT', kind: 'int', def: '30', meaning: 'seconds a rank waits for its coordinator to answer (and, under torch, for rank 0\'s job token in the store)' },
  idleExitS: { env: 'ONET_IDLE_EXIT', kind: 'int', def: '60', meaning: 'an auto-started coordinator exits this long after its last rank left (or none came)' },
  logLevel: { env: 'ONET_LOG', kind: 'string', def: 'info', meaning: 'coordinator log level: error, warn, info, debug' },
  node: { env: 'ONET_NODE', kind: 'string', def: '', meaning: 'node binary used to start a coordinator (default: the one running, or `node`)' },
  coordinator: { env: 'ONET_COORDINATOR', kind: 'string', def: '', meaning: 'path to the `onet` executable ranks use to start a coordinator' },
  python: { env: 'ONET_PYTHON', kind: 'string', def: '', meaning: 'python that `onet bench --framework torch` runs (default: <repo>/.venv/bin/python, else python3)' },
  // Multi-host: topology, scheduling, transport (docs/scheduling.md).
  algo: { env: 'ONET_ALGO', kind: 'string', def: '', meaning: 'force inter-host algorithms, e.g. "allreduce:ring,allgather:bruck" (`onet explain` lists them)' },
  explain: { env: 'ONET_EXPLAIN', kind: 'bool', def: '0', meaning: 'log the chosen algorithm and the predicted time of every alternative for each collective size range' },
  topoFile: { env: 'ONET_TOPO_FILE', kind: 'string', def: '', meaning: 'topology JSON (from `onet topo --json`) used instead of discovery and probing' },
  ifname: { env: 'ONET_IFNAME', kind: 'string', def: '', meaning: 'network interface to bind for peers (default: the one that routes to them; loopback on one host)' },
  fusionBytes: { env: 'ONET_FUSION_BYTES', kind: 'bytes', def: '64MiB', meaning: 'largest fused buffer for small same-(group, dtype, op) allreduces: the engine fuses small cross-host allreduces already queued behind each other into one exchange (0: never); also the fusion planner\'s limit' },
  cycleUs: { env: 'ONET_CYCLE_US', kind: 'int', def: '1000', meaning: 'fusion planner (src/scheduler/fusion.ts) only: microseconds small allreduces may wait to be fused; the engine never waits, it fuses what is already queued' },
  tcpStreams: { env: 'ONET_TCP_STREAMS', kind: 'int', def: '2', meaning: 'TCP connections per host pair; large messages are striped across them' },
  tcpZerocopyBytes: { env: 'ONET_TCP_ZEROCOPY_BYTES', kind: 'int', def: '0', meaning: 'send messages at least this large with MSG_ZEROCOPY (0: never)' },
  checksum: { env: 'ONET_CHECKSUM', kind: 'bool', def: '1', meaning: 'checksum inter-host messages and fail the collective on a mismatch (0 turns it off)' },
  transport: { env: 'ONET_TRANSPORT', kind: 'string', def: 'auto', meaning: 'inter-host transport: tcp, ucx, or auto (ucx when available, else tcp)' },
  bootstrap: { env: 'ONET_BOOTSTRAP', kind: 'string', def: '', meaning: 'host:port of the coordinator that runs the multi-host rendezvous (unset: one host)' },
  heartbeatMs: { env: 'ONET_HEARTBEAT_MS', kind: 'int', def: '500', meaning: 'coordinators heartbeat each other this often; a host silent for 3x this long is declared gone (0: off)' },
  testCorrupt: { env: 'ONET_TEST_CORRUPT', kind: 'int', def: '0', meaning: 'TESTS ONLY: the tcp transport corrupts every n-th frame it sends after checksumming it (0: off)' },
  // Security (docs/protocol.md §8, src/security/).
  jobToken: { env: 'ONET_JOB_TOKEN', kind: 'string', def: '', meaning: 'per-job secret: ranks and coordinators prove they hold it (HMAC); `onet run` generates one when unset' },
  storeToken: { env: 'ONET_STORE_TOKEN', kind: 'bool', def: '1', meaning: 'torch backend without ONET_JOB_TOKEN: global rank 0 draws a job token and shares it through the torch store (0: run without one)' },
  observerToken: { env: 'ONET_OBSERVER_TOKEN', kind: 'string', def: '', meaning: 'read-only role: may ask a token-protected coordinator for status and metrics' },
  adminToken: { env: 'ONET_ADMIN_TOKEN', kind: 'string', def: '', meaning: 'admin role: may also abort a token-protected job' },
  tlsCert: { env: 'ONET_TLS_CERT', kind: 'string', def: '', meaning: "PEM certificate of this host's coordinator: turns on mutual TLS 1.3 for the inter-host rendezvous" },
  tlsKey: { env: 'ONET_TLS_KEY', kind: 'string', def: '', meaning: 'PEM private key for ONET_TLS_CERT' },
  tlsCa: { env: 'ONET_TLS_CA', kind: 'string', def: '', meaning: 'PEM CA bundle that peer coordinators\' certificates must chain to' },
  tlsData: { env: 'ONET_TLS_DATA', kind: 'string', def: 'auto', meaning: 'encrypt the inter-host data path (tcp: TLS 1.3 handshake + AES-256-GCM frames): auto = when ONET_TLS_CERT/KEY/CA are set, 1 = required, 0 = off (rendezvous only)' },
  hostPort: { env: 'ONET_HOST_PORT', kind: 'int', def: '0', meaning: "TCP port this host's coordinator listens on for peer hosts (0 = any free port)" },
  // Telemetry (docs/telemetry.md).
  metricsPort: { env: 'ONET_METRICS_PORT', kind: 'string', def: '', meaning: 'serve Prometheus /metrics and the dashboard on this port (unset: off; 0: any free port)' },
  metricsHost: { env: 'ONET_METRICS_HOST', kind: 'string', def: '127.0.0.1', meaning: 'address the metrics/dashboard server binds (0.0.0.0 exposes it to the network)' },
  dashboardPort: { env: 'ONET_DASHBOARD_PORT', kind: 'string', def: '', meaning: 'serve the dashboard (and /metrics) on this port too (unset: on the metrics port only; 0: any free port)' },
  trace: { env: 'ONET_TRACE', kind: 'string', def: '', meaning: 'write a Chrome-trace (Perfetto) JSON timeline of every collective to this file' },
  stragglerWindow: { env: 'ONET_STRAGGLER_WINDOW', kind: 'int', def: '100', meaning: 'collectives in the sliding window that flags a rank arriving last at most of them' },
  stragglerGapUs: { env: 'ONET_STRAGGLER_GAP_US', kind: 'int', def: '1000', meaning: 'a rank counts as last only when it posts this many microseconds after the next-to-last' },
} satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1 << 20, mb: 1e6, mib: 1 << 20, g: 1 << 30, gb: 1e9, gib: 1 << 30 };

/** Parse "64MiB", "1g", "4096" into bytes; throws a message naming the setting on garbage. */
export function parseBytes(text: string, what = 'value'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`EINVAL: ${what}=${JSON.stringify(text)} is not a byte size (examples: 4096, 256KiB, 64MiB, 1GiB)`);
  return Math.round(Number(m[1]) * unit);
}

export function parseSetting(name: SettingName, text: string): string | number | boolean {
  const s: Setting = SETTINGS[name];
  switch (s.kind) {
    case 'bytes': return parseBytes(text, s.env);
    case 'int': {
      if (!/^\s*-?\d+\s*$/.test(text)) throw new Error(`EINVAL: ${s.env}=${JSON.stringify(text)} is not an integer`);
      return Number(text);
    }
    case 'bool': return /^(1|true|yes|on)$/i.test(text);
    default: return text;
  }
}

/** The value of a setting from the environment (or `env`), else its default. */
export function setting<N extends SettingName>(name: N, env: NodeJS.ProcessEnv = process.env): any {
  const s: Setting = SETTINGS[name];
  const raw = env[s.env];
  return parseSetting(name, raw !== undefined && raw !== '' ? raw : s.def);
}

/** Rows for `onet config`: every setting with its current value and where it came from. */
const SECRET = new Set(['ONET_JOB_TOKEN', 'ONET_OBSERVER_TOKEN', 'ONET_ADMIN_TOKEN']);

export function describeSettings(env: NodeJS.ProcessEnv = process.env) {
  return (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const s: Setting = SETTINGS[name];
    const set = env[s.env] !== undefined && env[s.env] !== '';
    // Secrets are never printed: `onet config` output lands in logs and bug reports.
    const value = set && SECRET.has(s.env) ? '(set, hidden)' : set ? env[s.env]! : s.def;
    return { env: s.env, value, source: set ? 'env' : 'default', meaning: s.meaning };
  });
}
