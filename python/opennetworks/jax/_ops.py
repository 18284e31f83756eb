"""Collectives on jax arrays: eager, under jit / scan / fori_loop, differentiable (custom_vjp),
and per device lane under shard_map. The wire work goes to the FFI or the io_callback path.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._errors import InvalidArgumentError, OnetError, UnsupportedError, error_for_status
from .._gen.enums import JAX_REDOPS
from .._layout import COLLS, REDOPS
from . import _callback, _ffi, _state

ALLREDUCE, BROADCAST, ALLGATHER = COLLS["allreduce"], COLLS["broadcast"], COLLS["allgather"]
REDUCE_SCATTER, ALLTOALL = COLLS["reduce_scatter"], COLLS["alltoall"]
_OPS = JAX_REDOPS


def _op(op) -> str:
    name = str(op).lower()
    if name not in _OPS:
        raise InvalidArgumentError(f"unknown reduce op {op!r}; use one of {', '.join(_OPS)}")
    return name


# ---- lanes: one per device of a shard_map program ------------------------------------------
def _manual_axes() -> tuple:
    return tuple(getattr(jax.sharding.get_abstract_mesh(), "manual_axes", ()) or ())


def _lane():
    """(lane index as an int32 scalar, number of lanes) for the current trace."""
    mesh = jax.sharding.get_abstract_mesh()
    axes = _manual_axes()
    if not axes:
        return jnp.zeros((), jnp.int32), 1
    idx, n = 0, 1
    for a in axes:
        size = mesh.shape[a]
        idx = idx * size + lax.axis_index(a)
        n *= size
    return jnp.asarray(idx, jnp.int32), n


def _vary(y):
    """Under shard_map a lane's result differs per device: type it as varying over the manual
    axes (custom_vjp insists that cotangents keep the primal's type)."""
    axes = _manual_axes()
    if not axes:
        return y
    have = set(getattr(getattr(jax.typeof(y), "mat", None), "varying", ()) or ())
    missing = tuple(a for a in axes if a not in have)
    return lax.pcast(y, missing, to="varying") if missing else y


def _raw(x, coll: int, redop: int = 0, root: int = 0):
    st = _state.get()
    P = st.world
    if coll == ALLGATHER:
        out_shape = (P, *x.shape)
    elif coll == REDUCE_SCATTER:
        out_shape = tuple(x.shape[1:])
    else:
        out_shape = tuple(x.shape)
    if x.size == 0:
        return _vary(jnp.zeros(out_shape, x.dtype))
    lane, n = _lane()
    st.ensure_lanes(n)
    return _vary(st.path().collective(x, lane, coll, redop, root, out_shape))


# ---- differentiable wire ops ---------------------------------------------------------------
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _allreduce(x, op):
    return _raw(x, ALLREDUCE, REDOPS[op])


def _allreduce_fwd(x, op):
    y = _raw(x, ALLREDUCE, REDOPS[op])
    return y, ((x, y) if op in ("max", "min") else None)


def _allreduce_bwd(op, res, ct):
    if op in ("sum", "avg"):
        return (_allreduce(ct, op),)
    if op in ("max", "min"):
        x, y = res
        return (_allreduce(ct, "sum") * (x == y).astype(ct.dtype),)
    raise UnsupportedError(f"the gradient of allreduce op={op!r} is not defined; use sum, avg, max or min")


_allreduce.defvjp(_allreduce_fwd, _allreduce_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _broadcast(x, root):
    return _raw(x, BROADCAST, 0, root)


def _broadcast_fwd(x, root):
    return _raw(x, BROADCAST, 0, root), None


def _broadcast_bwd(root, _, ct):
    g = _allreduce(ct, "sum")
    # Keep the allreduce used on every rank: a result dropped on some ranks only would let jit
    # remove the collective there and not elsewhere.
    return (jnp.where(_state.get().rank == root, g, jnp.zeros_like(g)),)


_broadcast.defvjp(_broadcast_fwd, _broadcast_bwd)


@jax.custom_vjp
def _allgather(x):
    return _raw(x, ALLGATHER)


def _allgather_fwd(x):
    return _raw(x, ALLGATHER), None


def _allgather_bwd(_, ct):
    return (_reduce_scatter(ct, "sum"),)


_allgather.defvjp(_allgather_fwd, _allgather_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _reduce_scatter(x, op):
    return _raw(x, REDUCE_SCATTER, REDOPS[op])


def _reduce_scatter_fwd(x, op):
    return _raw(x, REDUCE_SCATTER, REDOPS[op]), None


def _reduce_scatter_bwd(op, _, ct):
    if op == "sum":
        return (_allgather(ct),)
    if op == "avg":
        return (_allgather(ct) / _state.get().world,)
    raise UnsupportedError(f"the gradient of reduce_scatter op={op!r} is not defined; use sum or avg")


_reduce_scatter.defvjp(_reduce_scatter_fwd, _reduce_scatter_bwd)


@jax.custom_vjp
def _all_to_all(x):
    return _raw(x, ALLTOALL)


def _all_to_all_fwd(x):
    return _raw(x, ALLTOALL), None


def _all_to_all_bwd(_, ct):
    return (_all_to_all(ct),)


_all_to_all.defvjp(_all_to_all_fwd, _all_to_all_bwd)


def _tracing() -> bool:
    from jax._src import core  # no public "are we tracing" in jax 0.10

    return not core.trace_ctx.is_top_level()


# ---- eager calls: one cached jit per op, errors mapped to opennetworks exceptions ----------
def _map_error(e: Exception) -> Exception:
    """The opennetworks error behind an XLA exception: the one the callback path kept, or the FFI
    library's error record (code, message, ranks as data)."""
    kept = _callback.take_error()
    if kept is not None:
        return kept
    rec = _ffi.take_error()
    if rec is None:
        return e
    code, msg, ranks, lane, seq = rec
    ffi = _state.get().ffi
    if lane >= 0 and ffi is not None:
        return ffi.lane_error(lane, seq, code, msg, ranks)
    return error_for_status(code, msg, ranks)


@functools.cache
def _jitted(impl: str, name: str, *args):
    fn = _SHAPED[name]
    return jax.jit(lambda x: fn(x, *args))


def _run(name: str, x, *args):
    if isinstance(x, jax.core.Tracer):
        return _SHAPED[name](x, *args)
    if not isinstance(x, jax.Array):
        x = jnp.asarray(x)
    st = _state.get()
    try:
        return _jitted(st.impl, name, *args)(x).block_until_ready()
    except OnetError:
        raise
    except Exception as e:  # noqa: BLE001 - XLA wraps our errors; give the opennetworks one back
        err = _map_error(e)
        if err is e:
            raise
        raise err from None


# ---- public shapes ------------------------------------------------------------------------
def _allreduce_shaped(x, op):
    return _allreduce(x, op)


def _broadcast_shaped(x, root):
    return _broadcast(x, root)


def _allgather_shaped(x, axis, tiled):
    y = _allgather(x)  # (P, *x.shape), rank-major
    if not tiled:
        return jnp.moveaxis(y, 0, axis)
    y = jnp.moveaxis(y, 0, axis)
    shape = list(x.shape)
    shape[axis] *= y.shape[axis]
    return y.reshape(shape)


def _reduce_scatter_shaped(x, op, tiled):
    P = _state.get().world
    if tiled:
        return _reduce_scatter(x.reshape(P, x.shape[0] // P, *x.shape[1:]), op)
    return _reduce_scatter(x, op)


def _all_to_all_shaped(x):
    return _all_to_all(x)


_SHAPED = {
    "allreduce": _allreduce_shaped,
    "broadcast": _broadcast_shaped,
    "allgather": _allgather_shaped,
    "reduce_scatter": _reduce_scatter_shaped,
    "all_to_all": _all_to_all_shaped,
}


def allreduce(x, op: str = "sum"):
    """Element-wise reduction over ranks (sum, prod, min, max, avg, band, bor, bxor).

    Gradient: the same allreduce (sum/avg) of the cotangent; for max/min the summed cotangent
    flows to the elements that won."""
    return _run("allreduce", x, _op(op))


def broadcast(x, root: int = 0):
    """Every rank gets ``root``'s ``x``. Gradient: the summed cotangent at the root, zero elsewhere."""
    P = _state.get().world
    if not isinstance(root, int) or not 0 <= root < P:
        raise InvalidArgumentError(f"broadcast root {root!r} is outside the world of {P} ranks")
    return _run("broadcast", x, root)


def allgather(x, axis: int = 0, tiled: bool = False):
    """Every rank's ``x`` stacked along a new ``axis`` (rank order), or concatenated along the
    existing ``axis`` with ``tiled=True``. Gradient: reduce_scatter (sum) of the cotangent."""
    nd = jnp.ndim(x)
    lo, hi = (-nd, nd - 1) if tiled else (-nd - 1, nd)
    if tiled and nd == 0:
        raise InvalidArgumentError("allgather(tiled=True) needs an array with at least one dimension")
    if not isinstance(axis, int) or not lo <= axis <= hi:
        raise InvalidArgumentError(
            f"allgather axis {axis!r} is out of range [{lo}, {hi}] for an array of {nd} dimensions (tiled={tiled})"
        )
    return _run("allgather", x, axis % (nd if tiled else nd + 1), bool(tiled))


def reduce_scatter(x, op: str = "sum", tiled: bool = False):
    """Reduce over ranks, keep this rank's block of the leading dimension: ``x.shape[0]`` must be
    the world size (result ``x.shape[1:]``), or with ``tiled=True`` a multiple of it (result
    ``(x.shape[0] // P, ...)``). Gradient (sum/avg): allgather of the cotangent."""
    P = _state.get().world
    shape = jnp.shape(x)
    if not shape or (shape[0] % P if tiled else shape[0] != P):
        want = "a multiple of" if tiled else "equal to"
        raise InvalidArgumentError(
            f"reduce_scatter needs a leading dimension {want} the world size {P}; got "
            f"shape {tuple(shape)}" + ("" if tiled else " (tiled=True splits it evenly)")
        )
    return _run("reduce_scatter", x, _op(op), bool(tiled))


def all_to_all(x):
    """Block j of the leading dimension goes to rank j; block i of the result came from rank i.
    Gradient: all_to_all of the cotangent."""
    P = _state.get().world
    shape = jnp.shape(x)
    if not shape or shape[0] % P:
        raise InvalidArgumentError(
            f"all_to_all needs a leading dimension divisible by the world size {P}; got shape {tuple(shape)}"
        )
    return _run("all_to_all", x)


def barrier():
    """Wait until every rank arrives. Inside jit it is kept even though it returns nothing."""
    st = _state.get()
    if not _tracing():
        try:
            jax.block_until_ready(_barrier_jit(st.impl)())
        except OnetError:
            raise
        except Exception as e:  # noqa: BLE001
            err = _map_error(e)
            if err is e:
                raise
            raise err from None
        return None
    lane, n = _lane()
    st.ensure_lanes(n)
    st.path().barrier(lane)
    return None


@functools.cache
def _barrier_jit(impl: str):
    def f():
        st = _state.get()
        lane, n = _lane()
        st.ensure_lanes(n)
        return st.path().barrier(lane)

    return jax.jit(f)
