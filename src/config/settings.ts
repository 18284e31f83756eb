// The one way TypeScript reads a setting (STYLE rule 6). What settings exist, their kinds,
// defaults and units are data generated from spec/settings.json (src/gen/settings.ts); this file
// only parses. python/opennetworks/_env.py parses identically; spec/fixtures/ holds the cases
// both are tested against (test/contract_settings.test.ts, python/tests/test_contract_settings.py).
import { OnetError } from '../errors.js';
import {
  BOOL_FALSE,
  BOOL_TRUE,
  BYTE_EXAMPLES,
  BYTE_UNITS,
  ENUM_ERROR_FORMAT,
  ERROR_EXAMPLES,
  ERROR_FORMAT,
  ERROR_WHAT,
  SECONDS_EXAMPLES,
  SECONDS_UNITS,
  SETTINGS,
  type SettingKind,
  type SettingSpec,
} from '../gen/settings.js';

export type { SettingKind };
export { SETTINGS };
/** One registered setting (`def`: the text parsed when the variable is unset or empty). */
export type Setting = SettingSpec;
export type SettingName = keyof typeof SETTINGS;
export type SettingValue = string | number | boolean | undefined;

const NUMBER_WITH_UNIT = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$/;

/** The error every reader raises for a bad value: names the variable, quotes the value, shows examples. */
export function invalidValue(
  env: string,
  text: string,
  kind: SettingKind,
  values?: readonly string[] | null,
): OnetError {
  const value = JSON.stringify(text);
  if (kind === 'enum') {
    return new OnetError('EINVAL', fill(ENUM_ERROR_FORMAT, { env, value, values: (values ?? []).join(', ') }));
  }
  const byKind: Record<string, readonly string[]> = {
    ...ERROR_EXAMPLES,
    bytes: BYTE_EXAMPLES,
    seconds: SECONDS_EXAMPLES,
  };
  const examples = byKind[kind] ?? [];
  const what = ERROR_WHAT[kind];
  return new OnetError('EINVAL', fill(ERROR_FORMAT, { env, value, what, examples: examples.join(', ') }));
}

function fill(format: string, parts: Record<string, string>): string {
  return format.replace(/\{(\w+)\}/g, (_, k: string) => parts[k] ?? '');
}

function withUnit(text: string, units: Readonly<Record<string, number>>): number | undefined {
  const m = NUMBER_WITH_UNIT.exec(text);
  const unit = m ? units[m[2].toLowerCase()] : undefined;
  return m && unit !== undefined ? Number(m[1]) * unit : undefined;
}

/** "64MiB", "1.5GB", "2M", "4096" → bytes (IEC for KiB and bare k, SI for kB; rounded to the nearest byte). */
export function parseBytes(text: string, what = 'value'): number {
  const x = withUnit(text, BYTE_UNITS);
  // Round half up, written as floor(x + 0.5) so that Python's reader computes the identical double.
  const n = x === undefined ? NaN : Math.floor(x + 0.5);
  if (!Number.isSafeInteger(n)) throw invalidValue(what, text, 'bytes');
  return n;
}

/** "30", "2.5", "500ms", "1.5min" → fractional seconds. */
export function parseSeconds(text: string, what = 'value'): number {
  const x = withUnit(text, SECONDS_UNITS);
  if (x === undefined || !Number.isFinite(x)) throw invalidValue(what, text, 'seconds');
  return x;
}

export function parseBool(text: string, what = 'value'): boolean {
  const t = text.trim().toLowerCase();
  if (BOOL_TRUE.includes(t)) return true;
  if (BOOL_FALSE.includes(t)) return false;
  throw invalidValue(what, text, 'bool');
}

export function parseInteger(text: string, what = 'value'): number {
  const n = /^\s*-?\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw invalidValue(what, text, 'int');
  return n;
}

export function parseNumber(text: string, what = 'value'): number {
  const n = /^\s*-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n)) throw invalidValue(what, text, 'float');
  return n;
}

/** Parse `text` as the setting's kind; "" (unset, no default) reads as "" for strings, else undefined. */
export function parseValue(s: Setting, text: string): SettingValue {
  if (text === '') return s.kind === 'string' ? '' : undefined;
  switch (s.kind) {
    case 'int':
      return parseInteger(text, s.env);
    case 'float':
      return parseNumber(text, s.env);
    case 'seconds':
      return parseSeconds(text, s.env);
    case 'bytes':
      return parseBytes(text, s.env);
    case 'bool':
      return parseBool(text, s.env);
    case 'enum': {
      const t = text.trim().toLowerCase();
      if (!s.values?.includes(t)) throw invalidValue(s.env, text, 'enum', s.values);
      return t;
    }
    default:
      return text;
  }
}

export function parseSetting(name: SettingName, text: string): SettingValue {
  return parseValue(SETTINGS[name], text);
}

/** The text a setting reads: the environment's value when set and non-empty, else the default. */
export function settingText(name: SettingName, env: NodeJS.ProcessEnv = process.env): string {
  const s: Setting = SETTINGS[name];
  const raw = env[s.env];
  return raw !== undefined && raw !== '' ? raw : s.def;
}

/** Whether the environment sets this setting (to a non-empty value). */
export function isSet(name: SettingName, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[SETTINGS[name].env];
  return raw !== undefined && raw !== '';
}

/** The value of a setting from the environment (or `env`), else its default, parsed by its kind. */
// Returns any: callers know each setting's kind (SETTINGS[name].kind).
export function setting<N extends SettingName>(name: N, env: NodeJS.ProcessEnv = process.env): any {
  return parseSetting(name, settingText(name, env));
}

export interface SettingRow {
  env: string;
  value: string;
  source: 'env' | 'default' | 'invalid';
  kind: SettingKind;
  values: readonly string[] | null;
  default: string;
  components: readonly string[];
  audience: Setting['audience'];
  meaning: string;
  error?: string;
}

/** Rows for `onet config`: every setting any language reads, its current value and where it came from. */
export function describeSettings(env: NodeJS.ProcessEnv = process.env): SettingRow[] {
  return (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const s: Setting = SETTINGS[name];
    const set = isSet(name, env);
    let error: string | undefined;
    try {
      parseValue(s, settingText(name, env));
    } catch (e) {
      error = (e as Error).message;
    }
    // Secrets are never printed: `onet config` output lands in logs and bug reports.
    const value = set && s.secret ? '(set, hidden)' : settingText(name, env);
    const row: SettingRow = {
      env: s.env,
      value,
      source: error ? 'invalid' : set ? 'env' : 'default',
      kind: s.kind,
      values: s.values,
      default: s.def,
      components: s.components,
      audience: s.audience,
      meaning: s.meaning,
    };
    if (error && !s.secret) row.error = error;
    return row;
  });
}
