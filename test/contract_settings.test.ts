// The settings contract, TypeScript side: the shared cases in spec/fixtures/ (byte sizes,
// durations, job ids, reading settings, errors) give the same answers here as in
// python/tests/test_contract_settings.py, and every ONET_* variable any code reads is registered
// in spec/settings.json.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeSettings,
  parseBytes,
  parseSeconds,
  SETTINGS,
  type SettingName,
  setting,
} from '../src/config/settings';
import { jobId } from '../src/coordinator/paths';
import type { OnetError } from '../src/errors';

const ROOT = join(__dirname, '..');
const fixture = (name: string) => JSON.parse(readFileSync(join(ROOT, 'spec/fixtures', name), 'utf8'));
const spec = JSON.parse(readFileSync(join(ROOT, 'spec/settings.json'), 'utf8'));
const byEnv = new Map((Object.keys(SETTINGS) as SettingName[]).map((k) => [SETTINGS[k].env as string, k]));

/** The value of `f()`, or the message and code of what it threw. */
function outcome(f: () => unknown): { value?: unknown; error?: string; code?: string } {
  try {
    const v = f();
    return { value: v === undefined ? null : v };
  } catch (e) {
    return { error: (e as Error).message, code: (e as OnetError).code };
  }
}

function expectCase(got: ReturnType<typeof outcome>, c: { value?: unknown; error?: string }, approx = false) {
  if (c.error !== undefined) {
    expect(got).toEqual({ error: c.error, code: 'EINVAL' });
  } else if (approx && typeof c.value === 'number') {
    expect(got.error).toBeUndefined();
    expect(Math.abs((got.value as number) - c.value)).toBeLessThanOrEqual(Math.abs(c.value) * 1e-12);
  } else {
    expect(got).toEqual({ value: c.value });
  }
}

describe('shared fixtures (spec/fixtures/)', () => {
  const bytes = fixture('bytes.json');
  it.each(bytes.cases.map((c: { text: string }) => [JSON.stringify(c.text), c]))('byte size %s', (_, c) => {
    expectCase(
      outcome(() => parseBytes(c.text, bytes.what)),
      c,
    );
  });

  const durations = fixture('durations.json');
  it.each(durations.cases.map((c: { text: string }) => [JSON.stringify(c.text), c]))('duration %s', (_, c) => {
    expectCase(
      outcome(() => parseSeconds(c.text, durations.what)),
      c,
      true,
    );
  });

  const jobs = fixture('jobid.json');
  const jobRule = JSON.parse(readFileSync(join(ROOT, 'spec/jobid.json'), 'utf8'));
  const jobCases = [...jobRule.vectors, ...jobs.cases].map((c: { env: object }) => [JSON.stringify(c.env), c]);
  it.each(jobCases)('job id of %s', (_, c) => {
    expectCase(
      outcome(() => jobId(c.env)),
      c,
    );
  });

  const settings = fixture('settings.json');
  it.each(settings.cases.map((c: { name: string; env: object }) => [`${c.name} ${JSON.stringify(c.env)}`, c]))(
    'setting %s',
    (_, c) => {
      const key = byEnv.get(c.name);
      expect(key, `${c.name} is in spec/settings.json`).toBeDefined();
      expectCase(
        outcome(() => setting(key!, c.env)),
        c,
        true,
      );
    },
  );
});

describe('one registry', () => {
  it('the generated table is exactly spec/settings.json', () => {
    const envs = spec.settings.map((s: { env: string }) => s.env);
    expect([...byEnv.keys()]).toEqual(envs);
    for (const s of spec.settings) {
      const g = SETTINGS[s.key as SettingName];
      expect(g).toMatchObject({ env: s.env, kind: s.kind, def: s.default, components: s.components });
    }
  });

  it('onet config lists every setting, whichever language reads it, with who reads it', () => {
    const rows = describeSettings({ ONET_YIELD: '0', ONET_JOB_TOKEN: 'sekrit', ONET_LOG: 'loud' });
    expect(rows.map((r) => r.env)).toEqual(spec.settings.map((s: { env: string }) => s.env));
    const row = (env: string) => rows.find((r) => r.env === env);
    expect(row('ONET_YIELD')).toMatchObject({ value: '0', source: 'env', components: ['python'] });
    expect(row('ONET_SIMD')).toMatchObject({ source: 'default', components: ['native'] });
    expect(row('ONET_JOB_TOKEN')).toMatchObject({ value: '(set, hidden)' });
    expect(JSON.stringify(rows)).not.toContain('sekrit');
    expect(row('ONET_LOG')).toMatchObject({ source: 'invalid', error: expect.stringContaining('"loud"') });
  });

  it('every ONET_* variable read anywhere in the code is registered', () => {
    // Reads look like process.env.ONET_X, env.ONET_X, E.ONET_X, os.environ.get("ONET_X"),
    // environ["ONET_X"], getenv("ONET_X"), _env.setting("ONET_X") / value / float_setting / bytes_setting.
    const READ = new RegExp(
      [
        String.raw`\b(?:env|E)\.(ONET_[A-Z0-9_]+)`,
        String.raw`env\[['"](ONET_[A-Z0-9_]+)['"]\]`,
        String.raw`environ(?:\.get)?[(\[]\s*['"](ONET_[A-Z0-9_]+)`,
        String.raw`getenv\(\s*"(ONET_[A-Z0-9_]+)"`,
        String.raw`_env\.\w+\(\s*"(ONET_[A-Z0-9_]+)"`,
      ].join('|'),
      'g',
    );
    const SKIP = ['node_modules', 'gen', '_gen', 'contract_settings.test.ts'];
    const registered = new Set(byEnv.keys());
    const missing: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (SKIP.includes(name) || name.startsWith('.')) continue;
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(ts|mjs|js|cjs|py|cc|h|cu|cpp)$/.test(name)) {
          for (const m of readFileSync(p, 'utf8').matchAll(READ)) {
            const v = m.slice(1).find(Boolean)!;
            if (!registered.has(v)) missing.push(`${relative(ROOT, p)}: ${v}`);
          }
        }
      }
    };
    for (const d of ['src', 'python', 'native', 'bindings', 'bin', 'scripts', 'test', 'bench', 'examples']) {
      walk(join(ROOT, d));
    }
    expect(missing, 'register these in spec/settings.json (audience "test" for test hooks)').toEqual([]);
  });
});
