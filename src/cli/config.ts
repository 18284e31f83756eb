// `onet config`: every setting any part of OpenNetworks reads (spec/settings.json), its value
// from this environment, where that came from, and which parts read it. Tokens print as
// "(set, hidden)". Test and internal hooks come last, under their own heading.
import { describeSettings, type SettingRow } from '../config/settings.js';

export function config(o: { json?: boolean }, env: NodeJS.ProcessEnv = process.env): void {
  const rows = describeSettings(env);
  if (o.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const w = Math.max(...rows.map((r) => r.env.length));
  const vw = Math.min(24, Math.max(...rows.map((r) => r.value.length)));
  const cw = Math.max(...rows.map((r) => r.components.join(',').length));
  const cols = (env: string, value: string, source: string, by: string, meaning: string) =>
    [env.padEnd(w), value.padEnd(vw), source.padEnd(7), by.padEnd(cw), meaning].join('  ');
  const line = (r: SettingRow) => {
    const meaning = r.values ? `${r.meaning} (${r.values.join(' | ')})` : r.meaning;
    return cols(r.env, r.value, r.source, r.components.join(','), meaning);
  };
  console.log(cols('variable', 'value', 'source', 'read by', 'meaning'));
  for (const r of rows.filter((x) => x.audience === 'user')) console.log(line(r));
  console.log('\n# internal and test hooks (set by our own tools and tests; never needed in production)');
  for (const r of rows.filter((x) => x.audience !== 'user')) console.log(line(r));
  const bad = rows.filter((r) => r.error);
  for (const r of bad) console.log(`\ninvalid: ${r.error}`);
  if (bad.length) process.exitCode = 1;
}
