"""Every collective of a mixed job, exact against a reference, in pure Python (no numpy): the cases the Pyodide rank
(collectives.py) and the CPython ranks (mixed_rank.py) run; mixed_rank.mjs is the same for a Node rank.

Rank q's value at element j is ((j + 3q) % 11) - 5: small integers, so sums over 8 ranks are exact in f32, f64,
i32 and bf16, and every expected array repeats with period 11 (cheap to build at 1<<20 elements).
"""

import array
import struct

DTYPES = ("f32", "f64", "i32", "bf16")
COUNTS = (0, 1, 4097, 1 << 20)
# At 1<<20 elements only these run (pure-Python WebAssembly is slow at building big references).
BIG = {("allreduce", "f32"), ("allreduce", "f64"), ("allreduce", "i32"), ("allreduce", "bf16"), ("allgather", "f32")}
COLLECTIVES = ("allreduce", "allgather", "broadcast", "reduce_scatter", "alltoall", "sendrecv", "barrier")
_TYPECODE = {"f32": "f", "f64": "d", "i32": "i", "bf16": "H"}


def value(q, j):
    return ((j + 3 * q) % 11) - 5


def _bits(v, dtype):
    """v as an element of dtype: bf16 as the top 16 bits of its float32."""
    if dtype == "bf16":
        return struct.unpack("<I", struct.pack("<f", v))[0] >> 16
    return float(v) if dtype in ("f32", "f64") else int(v)


def periodic(fn, start, n, dtype):
    """array of fn(start + i) for i < n, where fn has period 11."""
    period = [_bits(fn(start + i), dtype) for i in range(min(n, 11))]
    return array.array(_TYPECODE[dtype], period * (n // 11 + 1))[:n]


def data(q, start, n, dtype):
    return periodic(lambda j: value(q, j), start, n, dtype)


def zeros(n, dtype):
    return array.array(_TYPECODE[dtype], bytes(n * array.array(_TYPECODE[dtype]).itemsize))


def total(world, start, n, dtype):
    return periodic(lambda j: sum(value(q, j) for q in range(world)), start, n, dtype)


def cases():
    for coll in COLLECTIVES:
        for dtype in DTYPES if coll != "barrier" else ("f32",):
            for n in COUNTS if coll != "barrier" else (0,):
                if n == COUNTS[-1] and (coll, dtype) not in BIG:
                    continue
                yield coll, dtype, n


async def run_case(comm, coll, dtype, n):
    """Run one case on comm (the opennetworks.web API); returns (got, want) as arrays of one typecode."""
    r, p = comm.rank, comm.world
    dt = "bf16" if dtype == "bf16" else None
    if coll == "allreduce":
        return await comm.all_reduce(data(r, 0, n, dtype), op="sum", dtype=dt), total(p, 0, n, dtype)
    if coll == "allgather":
        want = array.array(_TYPECODE[dtype])
        for q in range(p):
            want += data(q, 0, n, dtype)
        return await comm.all_gather(data(r, 0, n, dtype), dtype=dt), want
    if coll == "broadcast":
        root = n % p
        mine = data(r, 0, n, dtype) if r == root else zeros(n, dtype)
        return await comm.broadcast(mine, root, dtype=dt), data(root, 0, n, dtype)
    if coll == "reduce_scatter":
        return await comm.reduce_scatter(data(r, 0, p * n, dtype), op="sum", dtype=dt), total(p, r * n, n, dtype)
    if coll == "alltoall":
        want = array.array(_TYPECODE[dtype])
        for q in range(p):
            want += data(q, r * n, n, dtype)
        return await comm.all_to_all(data(r, 0, p * n, dtype), dtype=dt), want
    if coll == "sendrecv":  # a ring: even ranks send first, odd ranks receive first
        right, left = (r + 1) % p, (r - 1) % p
        if r % 2 == 0:
            await comm.send(data(r, 0, n, dtype), right, 7, dtype=dt)
            got = await comm.recv(data(r, 0, n, dtype), left, 7, dtype=dt)
        else:
            got = await comm.recv(data(r, 0, n, dtype), left, 7, dtype=dt)
            await comm.send(data(r, 0, n, dtype), right, 7, dtype=dt)
        return got, data(left, 0, n, dtype)
    await comm.barrier()
    return array.array("f"), array.array("f")


async def run_all(comm):
    """Every case in the same order on every rank; the names of the cases whose result was not exact."""
    failed, ran = [], 0
    for coll, dtype, n in cases():
        got, want = await run_case(comm, coll, dtype, n)
        ran += 1
        got = got if isinstance(got, array.array) else array.array(want.typecode, bytes(memoryview(got).cast("B")))
        if got.tobytes() != want.tobytes():
            failed.append(f"{coll}/{dtype}/{n}")
    return ran, failed
