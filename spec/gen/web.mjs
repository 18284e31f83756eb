// Emitter for spec/web.json: the WebSocket protocol of browser and Pyodide ranks.
//   src/gen/web.ts                    WEB (paths, close codes, version), message field tables, types
//   python/opennetworks/_gen/web.py   the same constants for opennetworks.web
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = 'spec/web.json';
const q = (s) => JSON.stringify(s);
const TS_TYPE = { string: 'string', int: 'number', object: 'Record<string, unknown>', 'int[]': 'number[]' };

export function load(root) {
  const spec = JSON.parse(readFileSync(join(root, SOURCE), 'utf8'));
  for (const side of ['client', 'server'])
    for (const [type, fields] of Object.entries(spec[side]))
      for (const [f, t] of Object.entries(fields))
        if (!TS_TYPE[t.replace(/\?$/, '')]) throw new Error(`${SOURCE}: ${side}.${type}.${f}: unknown type ${q(t)}`);
  return spec;
}

const camel = (s) => s[0].toUpperCase() + s.slice(1);

function iface(side, type, fields) {
  const name = `${camel(side)}${camel(type)}`;
  const body = Object.entries(fields).map(([f, t]) => {
    const opt = t.endsWith('?');
    return `  ${f}${opt ? '?' : ''}: ${TS_TYPE[t.replace(/\?$/, '')]};`;
  });
  return [`export interface ${name} {`, '  v: number;', `  type: ${q(type)};`, ...body, '}'];
}

function ts(s) {
  const colls = Object.fromEntries(Object.entries(s.collectives).filter(([k]) => !k.startsWith('$')));
  const lines = [
    '// The WebSocket protocol of browser and Pyodide ranks (spec/web.json). Text frames: one JSON',
    "// message each; binary frames: one Arrow IPC stream with 'onet:call' / 'onet:result' schema metadata.",
    '',
    'export const WEB = {',
    `  version: ${s.version},`,
    `  path: ${q(s.path)},`,
    `  joinPath: ${q(s.joinPath)},`,
    `  closeCodes: ${q(s.closeCodes)},`,
    `  kinds: ${q(s.kinds)},`,
    '} as const;',
    '',
    '/** Field types of every message, by side and type ("?" = optional): what decoders check. */',
    `export const WEB_CLIENT_FIELDS: Record<string, Record<string, string>> = ${q(s.client)};`,
    `export const WEB_SERVER_FIELDS: Record<string, Record<string, string>> = ${q(s.server)};`,
    '',
    '/** The collectives a web rank may call: input and output element counts. */',
    `export const WEB_COLLECTIVES: Record<string, { input: string; output: string }> = ${q(colls)};`,
    `export type WebColl = ${Object.keys(colls).map(q).join(' | ')};`,
    '',
    ...Object.entries(s.client).flatMap(([t, f]) => [...iface('client', t, f), '']),
    ...Object.entries(s.server).flatMap(([t, f]) => [...iface('server', t, f), '']),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

function py(s) {
  const colls = Object.keys(s.collectives).filter((k) => !k.startsWith('$'));
  const lines = [
    '"""The WebSocket protocol of browser and Pyodide ranks (spec/web.json)."""',
    '',
    `VERSION = ${s.version}`,
    `PATH = ${q(s.path)}`,
    `JOIN_PATH = ${q(s.joinPath)}`,
    `CLOSE_CODES = {${Object.entries(s.closeCodes)
      .map(([k, v]) => `${q(k)}: ${v}`)
      .join(', ')}}`,
    `KINDS = (${s.kinds.map(q).join(', ')},)`,
    `COLLECTIVES = (${colls.map(q).join(', ')},)`,
    '',
  ];
  return lines.join('\n');
}

export function outputs(root) {
  const s = load(root);
  return [
    { path: 'src/gen/web.ts', text: ts(s), source: SOURCE },
    { path: 'python/opennetworks/_gen/web.py', text: py(s), source: SOURCE },
  ];
}
