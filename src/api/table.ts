// comm.allgatherTable(): every rank's apache-arrow Table, concatenated in rank order.
// Every rank runs the same collectives whatever its table, so a bad table or a schema
// mismatch is an error on every rank, never a hang:
//   1. allgather [IPC stream bytes, ok] — each rank's Arrow IPC stream length (§6 framing);
//   2. allgatherv of the stream bytes, in rounds of at most chunkBytes in all so a big
//      table never needs more of the arena than that;
// then every rank decodes every stream and checks each schema against rank 0's before it
// concatenates anything.
import { type DataType, type Field, type Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import type { Comm } from './comm.js';

/** Options of {@link Comm.allgatherTable}. */
export interface AllgatherTableOptions {
  /**
   * Most bytes moved by one allgatherv round, all ranks together (default: 64 MiB, at most a
   * quarter of ONET_ARENA_BYTES). Must be the same on every rank.
   */
  chunkBytes?: number;
}

const list = (rs: number[]) => `${rs.length > 1 ? 'ranks' : 'rank'} ${rs.join(', ')}`;

function typeSig(t: DataType): string {
  const kids = (t as { children?: Field[] }).children;
  return kids?.length ? `${String(t)} {${kids.map(fieldSig).join(', ')}}` : String(t);
}
/** A field as the check compares it: name, type (children included) and nullability. */
function fieldSig(f: Field): string {
  return `${f.name}: ${typeSig(f.type)}${f.nullable ? '' : ' not null'}`;
}

/** The schema differences between ranks, field by field, and the ranks that differ from rank 0; null when all agree. */
export function schemaDifferences(tables: Table[]): { message: string; ranks: number[] } | null {
  const sigs = tables.map((t) => t.schema.fields.map(fieldSig));
  const width = Math.max(...sigs.map((s) => s.length));
  const parts: string[] = [];
  const odd = new Set<number>();
  for (let i = 0; i < width && parts.length < 3; i++) {
    const groups = new Map<string, number[]>();
    sigs.forEach((s, r) => {
      const k = s[i] ?? '(no such field)';
      groups.set(k, [...(groups.get(k) ?? []), r]);
    });
    if (groups.size < 2) continue;
    const base = sigs[0][i] ?? '(no such field)';
    for (const [k, rs] of groups) if (k !== base) rs.forEach((r) => odd.add(r));
    parts.push(
      `field ${i}: ${[...groups].map(([k, rs]) => `${list(rs)} ${k.startsWith('(') ? k : `"${k}"`}`).join('; ')}`,
    );
  }
  if (!parts.length) return null;
  const ranks = [...odd].sort((a, b) => a - b);
  return {
    ranks,
    message:
      `allgatherTable: ${list(ranks)} passed a table whose schema differs from rank 0's — ${parts.join(' | ')}. ` +
      "Every rank must pass the same field names, types and nullability in the same order: build each rank's table " +
      'against one Schema (a rank with no rows too: apache-arrow infers Null and nullability from the values ' +
      'otherwise).',
  };
}

function serialize(table: Table): { bytes: Uint8Array; error?: string } {
  try {
    if (!table || typeof table !== 'object' || !('schema' in table) || !('batches' in table))
      return {
        bytes: new Uint8Array(0),
        error: `expected an apache-arrow Table, got ${Object.prototype.toString.call(table)}`,
      };
    return { bytes: tableToIPC(table, 'stream') };
  } catch (e) {
    return { bytes: new Uint8Array(0), error: `cannot serialize its table to Arrow IPC: ${(e as Error).message}` };
  }
}

/** See {@link Comm.allgatherTable}. */
export async function allgatherTable(comm: Comm, table: Table, o: AllgatherTableOptions = {}): Promise<Table> {
  const world = comm.world;
  const chunk = Math.max(
    8,
    Math.floor((o.chunkBytes ?? Math.min(64 << 20, (setting('arenaBytes') as number) / 4)) / world),
  );
  const mine = serialize(table);
  const head = await comm.allgather(Float64Array.of(mine.bytes.length, mine.error ? 0 : 1));
  const lens = Array.from({ length: world }, (_, r) => Number(head[2 * r]));
  const bad = lens.map((_, r) => r).filter((r) => head[2 * r + 1] !== 1);
  if (bad.length)
    throw new OnetError(
      'EINVAL',
      `allgatherTable: ${list(bad)} did not pass a usable ` +
        `table${mine.error ? ` (rank ${comm.rank} ${mine.error})` : ' (see the error there)'}`,
      bad,
    );

  // Gather the streams: one round when they fit in `chunk` bytes per rank, else several.
  const rounds = Math.max(...lens.map((n) => Math.ceil(n / chunk)));
  const streams: Uint8Array[] = lens.map((n) => new Uint8Array(n));
  for (let k = 0; k < rounds; k++) {
    const counts = lens.map((n) => Math.max(0, Math.min(chunk, n - k * chunk)));
    const part = mine.bytes.subarray(k * chunk, k * chunk + counts[comm.rank]);
    const got = (await comm.allgatherv(part, { counts, dtype: 'u8' })) as Uint8Array;
    let at = 0;
    counts.forEach((c, r) => {
      if (rounds === 1 && at % 8 === 0)
        streams[r] = got.subarray(at, at + c); // zero-copy, 8-byte aligned
      else if (c > 0) streams[r].set(got.subarray(at, at + c), k * chunk);
      at += c;
    });
  }

  const tables = streams.map((bytes, r) => {
    try {
      return tableFromIPC(bytes);
    } catch (e) {
      throw new OnetError(
        'EINVAL',
        `allgatherTable: cannot decode rank ${r}'s table (${bytes.length} bytes of Arrow IPC): ${(e as Error).message}`,
        [r],
      );
    }
  });
  const diff = schemaDifferences(tables);
  if (diff) throw new OnetError('EMISMATCH', diff.message, diff.ranks);
  return tables[0].concat(...tables.slice(1));
}
