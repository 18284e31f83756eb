// The pure-Python opennetworks package as one zip, for Pyodide in a page: GET /py/opennetworks.zip. Built from
// python/opennetworks at request time (only .py files; no tests, no caches), stored (not deflated), so it needs
// nothing beyond node:zlib's crc32. A page unpacks it with pyodide.unpackArchive(bytes, 'zip').
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export const PY_ZIP_PATH = '/py/opennetworks.zip';

/** Every .py file under `dir`, as [path inside the zip, bytes], sorted (the zip is the same for the same tree). */
export function pyFiles(dir: string, prefix = 'opennetworks'): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === '__pycache__' || name === 'tests' || name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...pyFiles(p, `${prefix}/${name}`));
    else if (st.isFile() && name.endsWith('.py')) out.push([`${prefix}/${name}`, readFileSync(p)]);
  }
  return out;
}

/** 1980-01-01, the zip epoch: a fixed date keeps the archive reproducible. */
const DOS_DATE = (1 << 5) | 1;

/** A zip archive (method 0, stored) of `files`. */
export function storedZip(files: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const n = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // utf-8 names
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(0x0800, 8);
    dir.writeUInt16LE(DOS_DATE, 14);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(data.length, 20);
    dir.writeUInt32LE(data.length, 24);
    dir.writeUInt16LE(n.length, 28);
    dir.writeUInt32LE(offset, 42);
    parts.push(local, n, data);
    central.push(dir, n);
    offset += 30 + n.length + data.length;
  }
  const size = central.reduce((s, b) => s + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(size, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, end]);
}
