// Every collective of the web API, checked exactly against a reference every rank computes for
// itself (inputs are small integers, so sums are exact in f32, f64, i32 and bf16). Runs as is in
// a page (on a WebComm from join()), in Node on a WebComm over the `ws` package, and on a Node API
// Comm through asWebApi() below. No imports: the Chromium test injects this file into the page.

const CTOR = { f32: Float32Array, f64: Float64Array, i32: Int32Array, bf16: Uint16Array };
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** bf16 bits of a small integer (exact: bf16 keeps 8 significant bits). */
function toBf16(x) {
  f32[0] = x;
  return u32[0] >>> 16;
}

/** Rank r's i-th input value: small integers, different on every rank and element (period 13 in i). */
const value = (r, i) => ((i * 7 + r * 3) % 13) - 4 + r;
const PERIOD = 13;

/** n elements of f(i) where f has period 13 (every reference below does): 13 calls, then copies. */
function make(dtype, n, f) {
  const a = new CTOR[dtype](n);
  const head = Math.min(n, PERIOD * 64);
  for (let i = 0; i < head; i++) a[i] = dtype === 'bf16' ? toBf16(f(i)) : f(i);
  for (let i = head; i < n; i += head) a.copyWithin(i, 0, Math.min(head, n - i));
  return a;
}

/** Like make() for a rank-major array of P blocks of n: block b holds g(b, i) for i < n. */
function makeBlocks(dtype, P, n, g) {
  const a = new CTOR[dtype](P * n);
  for (let b = 0; b < P; b++)
    a.set(
      make(dtype, n, (i) => g(b, i)),
      b * n,
    );
  return a;
}

function expectEqual(what, got, want) {
  if (got.constructor !== want.constructor)
    throw new Error(`${what}: got a ${got.constructor.name}, want a ${want.constructor.name}`);
  if (got.length !== want.length) throw new Error(`${what}: got ${got.length} elements, want ${want.length}`);
  for (let i = 0; i < want.length; i++)
    if (got[i] !== want[i]) throw new Error(`${what}: element ${i} is ${got[i]}, want ${want[i]}`);
}

/** Run every collective on `comm` for each dtype and count; returns how many checks passed. */
export async function runAll(
  comm,
  { dtypes = ['f32', 'f64', 'i32', 'bf16'], counts = [0, 1, 4097, 1 << 20], log = () => {} } = {},
) {
  const { rank: me, world: P } = comm;
  const ranks = [...Array(P).keys()];
  let checks = 0;
  for (const dtype of dtypes) {
    const o = dtype === 'bf16' ? { dtype } : {};
    for (const n of counts) {
      const tag = `${dtype} n=${n} rank ${me}/${P}`;
      const mine = make(dtype, n, (i) => value(me, i));
      const sumOf = (i) => ranks.reduce((s, r) => s + value(r, i), 0);
      expectEqual(`allreduce sum ${tag}`, await comm.allreduce(mine, { ...o, op: 'sum' }), make(dtype, n, sumOf));
      const maxOf = (i) => Math.max(...ranks.map((r) => value(r, i)));
      expectEqual(`allreduce max ${tag}`, await comm.allreduce(mine, { ...o, op: 'max' }), make(dtype, n, maxOf));
      const all = makeBlocks(dtype, P, n, (b, i) => value(b, i));
      expectEqual(`allgather ${tag}`, await comm.allgather(mine, o), all);
      const root = P - 1;
      expectEqual(
        `broadcast ${tag}`,
        await comm.broadcast(mine, { ...o, root }),
        make(dtype, n, (i) => value(root, i)),
      );
      // reduceScatter and alltoall take world blocks of n elements each.
      const blocks = makeBlocks(dtype, P, n, (b, i) => value(me, b * n + i));
      const rsWant = make(dtype, n, (i) => ranks.reduce((s, r) => s + value(r, me * n + i), 0));
      expectEqual(`reduceScatter ${tag}`, await comm.reduceScatter(blocks, { ...o, op: 'sum' }), rsWant);
      const a2aWant = makeBlocks(dtype, P, n, (b, i) => value(b, me * n + i));
      expectEqual(`alltoall ${tag}`, await comm.alltoall(blocks, o), a2aWant);
      await comm.barrier();
      if (P > 1) {
        // A ring: send to the right, receive from the left (posted together, so no deadlock).
        const right = (me + 1) % P,
          left = (me + P - 1) % P;
        const [, got] = await Promise.all([
          comm.send(mine, { ...o, peer: right, tag: 7 }),
          comm.recv(new CTOR[dtype](n), { ...o, peer: left, tag: 7 }),
        ]);
        expectEqual(
          `send/recv ${tag}`,
          got,
          make(dtype, n, (i) => value(left, i)),
        );
      }
      checks += P > 1 ? 7 : 6;
      log(`${tag}: every collective exact`);
    }
  }
  return checks;
}

/** A Node API Comm (src/api) with the web API's shape, so runAll() checks Node ranks too. */
export function asWebApi(comm) {
  return {
    rank: comm.rank,
    world: comm.world,
    allreduce: (x, o) => comm.allreduce(x.slice(), o),
    allgather: (x, o) => comm.allgather(x, o),
    broadcast: (x, o) => comm.broadcast(x.slice(), o),
    reduceScatter: (x, o) => comm.reduceScatter(x, o),
    alltoall: (x, o) => comm.alltoall(x, o),
    barrier: () => comm.barrier(),
    send: (x, o) => comm.send(x, o.peer, o),
    recv: async (x, o) => (await comm.recv(x, o.peer, o)).data,
  };
}
