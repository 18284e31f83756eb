// Every collective of a mixed job, exact against a reference: the cases of cases.py (same order, same values) for
// a JavaScript rank, in Node (mixed_rank.mjs) or in a browser tab (test/pyodide_mixed.test.ts). No Node built-ins.
const DTYPES = ['f32', 'f64', 'i32', 'bf16'];
const COUNTS = [0, 1, 4097, 1 << 20];
const BIG = new Set(['allreduce/f32', 'allreduce/f64', 'allreduce/i32', 'allreduce/bf16', 'allgather/f32']);
const COLLECTIVES = ['allreduce', 'allgather', 'broadcast', 'reduce_scatter', 'alltoall', 'sendrecv', 'barrier'];
const CTOR = { f32: Float32Array, f64: Float64Array, i32: Int32Array, bf16: Uint16Array };
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

const value = (q, j) => ((j + 3 * q) % 11) - 5;
function bits(v, dtype) {
  if (dtype !== 'bf16') return v;
  f32[0] = v;
  return u32[0] >>> 16;
}
/** fn(start + i) for i < n, where fn has period 11. */
function periodic(fn, start, n, dtype) {
  const out = new CTOR[dtype](n);
  const period = Array.from({ length: Math.min(n, 11) }, (_, i) => bits(fn(start + i), dtype));
  for (let i = 0; i < n; i++) out[i] = period[i % 11];
  return out;
}
const data = (q, start, n, dtype) => periodic((j) => value(q, j), start, n, dtype);
const concat = (parts, dtype) => {
  const out = new CTOR[dtype](parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

function* cases() {
  for (const coll of COLLECTIVES)
    for (const dtype of coll === 'barrier' ? ['f32'] : DTYPES)
      for (const n of coll === 'barrier' ? [0] : COUNTS)
        if (n !== COUNTS[3] || BIG.has(`${coll}/${dtype}`)) yield [coll, dtype, n];
}

/**
 * One case on `comm`, which has the browser client's call shapes (a WebComm from join(url), or nodeComm(c) of
 * the Node API): every call resolves to a new typed array. Returns [got, want].
 */
async function runCase(comm, coll, dtype, n) {
  const r = comm.rank;
  const p = comm.world;
  const o = { dtype };
  const total = (start) => periodic((j) => [...Array(p).keys()].reduce((a, q) => a + value(q, j), 0), start, n, dtype);
  const ranks = [...Array(p).keys()];
  switch (coll) {
    case 'allreduce':
      return [await comm.allreduce(data(r, 0, n, dtype), { ...o, op: 'sum' }), total(0)];
    case 'allgather':
      return [
        await comm.allgather(data(r, 0, n, dtype), o),
        concat(
          ranks.map((q) => data(q, 0, n, dtype)),
          dtype,
        ),
      ];
    case 'broadcast': {
      const root = n % p;
      const mine = r === root ? data(r, 0, n, dtype) : new CTOR[dtype](n);
      return [await comm.broadcast(mine, { ...o, root }), data(root, 0, n, dtype)];
    }
    case 'reduce_scatter':
      return [await comm.reduceScatter(data(r, 0, p * n, dtype), { ...o, op: 'sum' }), total(r * n)];
    case 'alltoall':
      return [
        await comm.alltoall(data(r, 0, p * n, dtype), o),
        concat(
          ranks.map((q) => data(q, r * n, n, dtype)),
          dtype,
        ),
      ];
    case 'sendrecv': {
      const [right, left] = [(r + 1) % p, (r - 1 + p) % p];
      let got;
      if (r % 2 === 0) {
        await comm.send(data(r, 0, n, dtype), { ...o, peer: right, tag: 7 });
        got = await comm.recv(new CTOR[dtype](n), { ...o, peer: left, tag: 7 });
      } else {
        got = await comm.recv(new CTOR[dtype](n), { ...o, peer: left, tag: 7 });
        await comm.send(data(r, 0, n, dtype), { ...o, peer: right, tag: 7 });
      }
      return [got, data(left, 0, n, dtype)];
    }
    default:
      await comm.barrier();
      return [new Float32Array(0), new Float32Array(0)];
  }
}

function same(a, b) {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.every((v, i) => v === y[i]);
}

/** Every case in cases.py's order; resolves to {ran, failed: ['coll/dtype/count', ...]}. */
export async function runAll(comm) {
  const failed = [];
  let ran = 0;
  for (const [coll, dtype, n] of cases()) {
    const [got, want] = await runCase(comm, coll, dtype, n);
    ran++;
    if (!same(got, want)) failed.push(`${coll}/${dtype}/${n}`);
  }
  return { ran, failed };
}

/** The Node API's Comm with the browser client's call shapes (send/recv options, new arrays back). */
export function nodeComm(c) {
  return {
    rank: c.rank,
    world: c.world,
    allreduce: (x, o) => c.allreduce(x, o),
    allgather: (x, o) => c.allgather(x, o),
    broadcast: (x, o) => c.broadcast(x, o),
    reduceScatter: (x, o) => c.reduceScatter(x, o),
    alltoall: (x, o) => c.alltoall(x, o),
    barrier: () => c.barrier(),
    send: (x, o) => c.send(x, o.peer, o),
    recv: async (x, o) => {
      await c.recv(x, o.peer, o);
      return x;
    },
  };
}
