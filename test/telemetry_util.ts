// Helpers for the telemetry suites: rank processes of test/fixtures/telemetry_worker.mjs
// against an in-process coordinator, and a small Prometheus text-format parser.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type Ran, ROOT } from './helpers';

export const WORKER = join(ROOT, 'test', 'fixtures', 'telemetry_worker.mjs');

/** Start `world` rank processes of the telemetry worker; resolves when all have exited. */
export function startRanks(world: number, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Ran[]> {
  return Promise.all(
    Array.from(
      { length: world },
      (_, r) =>
        new Promise<Ran>((resolve) => {
          const p = spawn(process.execPath, [WORKER], {
            cwd: ROOT,
            stdio: ['ignore', 'pipe', 'pipe'],
            env: {
              ...process.env,
              ...env,
              RANK: String(r),
              WORLD_SIZE: String(world),
              LOCAL_RANK: String(r),
              LOCAL_WORLD_SIZE: String(world),
            },
          });
          let stdout = '',
            stderr = '';
          p.stdout.on('data', (d) => (stdout += d));
          p.stderr.on('data', (d) => (stderr += d));
          const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
          p.on('close', (code) => {
            clearTimeout(t);
            resolve({ code, stdout, stderr });
          });
        }),
    ),
  );
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

/** The one sample named `name` whose labels include `want`; undefined if none. */
export function pick(samples: Sample[], name: string, want: Record<string, string>): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(want)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

export async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
