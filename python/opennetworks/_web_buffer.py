"""Buffers in and out of a WebAssembly rank: which wire dtype a Python buffer holds, and the array a result
comes back as. Pure Python (``array``, ``memoryview``); numpy is used only when the caller passed a numpy array.

A buffer's element type comes from its struct format and item size (``f``/4 → f32, ``d``/8 → f64, ``i`` or
``l``/4 → i32); bf16 has no struct format, so it travels as uint16 (``H``) with ``dtype="bf16"``. Raw bytes
(``B``, ``b``, ``c``) take any dtype by name. Big-endian formats are refused: the wire is little-endian.
"""

from __future__ import annotations

import array
import sys
from typing import Any, NamedTuple

from ._errors import InvalidArgumentError, UnsupportedError

# The dtypes a browser rank speaks (the JS client's typed arrays), by wire name.
WEB_DTYPES = ("f32", "f64", "i32", "bf16")
ITEMSIZE = {"f32": 4, "f64": 8, "i32": 4, "bf16": 2}
# The JS typed-array constructor that carries each dtype.
JS_ARRAYS = {"f32": "Float32Array", "f64": "Float64Array", "i32": "Int32Array", "bf16": "Uint16Array"}
# (struct format letter, item size) -> wire dtype.
_BY_FORMAT = {("f", 4): "f32", ("d", 8): "f64", ("i", 4): "i32", ("l", 4): "i32"}
_RAW = frozenset("Bbc")
_NUMPY_NAMES = {"f32": "float32", "f64": "float64", "i32": "int32", "bf16": "uint16"}


def _typecode(dtype: str) -> str:
    """The ``array`` typecode of a dtype on this platform (``i`` is 4 bytes on every platform we run)."""
    if dtype == "i32":
        return "i" if array.array("i").itemsize == 4 else "l"
    return {"f32": "f", "f64": "d", "bf16": "H"}[dtype]


class Staged(NamedTuple):
    """A caller's buffer as flat little-endian bytes of one dtype, and what the result should look like."""

    dtype: str
    raw: memoryview  # format "B", C-contiguous, len == count * ITEMSIZE[dtype]
    count: int
    shape: tuple[int, ...]  # the caller's shape when numpy, else (count,)
    numpy: bool  # the caller passed a numpy array: results come back as numpy arrays


def _format_letter(fmt: str, what: str) -> str:
    if fmt[:1] in (">", "!") and sys.byteorder == "little":
        raise UnsupportedError(f"{what} is big-endian (format {fmt!r}); the wire is little-endian: byte-swap it first")
    letter = fmt.lstrip("@=<>!")
    if len(letter) != 1:
        raise UnsupportedError(f"{what} has struct format {fmt!r}, which is not one element type")
    return letter


def _check_dtype(dtype: str) -> str:
    if dtype not in WEB_DTYPES:
        raise UnsupportedError(
            f"dtype {dtype!r} is not available to a browser or Pyodide rank; use one of {', '.join(WEB_DTYPES)}"
        )
    return dtype


def stage(data: Any, dtype: str | None = None, what: str = "data") -> Staged:
    """The wire view of ``data``: any buffer-protocol object, or a numpy array.

    ``dtype`` (``"f32"``, ``"f64"``, ``"i32"``, ``"bf16"``) is needed for raw bytes and for bf16 (uint16 data);
    for typed buffers it must agree with the buffer's own element type.
    """
    is_numpy = type(data).__module__ == "numpy" and hasattr(data, "dtype")
    if is_numpy and not data.flags.c_contiguous:
        data = data.copy(order="C")
    try:
        mv = memoryview(data)
    except TypeError:
        raise InvalidArgumentError(
            f"{what} of type {type(data).__name__} is not a buffer; pass an array.array, a memoryview, bytes "
            f"with dtype=, or a numpy array"
        ) from None
    if not mv.c_contiguous:
        raise InvalidArgumentError(f"{what} is not contiguous; copy it first (e.g. bytes(view) or array.copy())")
    letter = _format_letter(mv.format, what)
    found = _BY_FORMAT.get((letter, mv.itemsize))
    if dtype is not None:
        _check_dtype(dtype)
        fits = letter in _RAW or found == dtype or (dtype == "bf16" and letter in "Hh" and mv.itemsize == 2)
        if not fits:
            raise InvalidArgumentError(
                f"{what} holds {found or repr(mv.format)} elements but dtype={dtype!r} was given; pass raw bytes "
                f"or matching data (bf16 travels as uint16, e.g. array.array('H'))"
            )
        found = dtype
    elif found is None:
        if letter in _RAW:
            raise InvalidArgumentError(f"{what} is raw bytes: say what they hold with dtype= ({', '.join(WEB_DTYPES)})")
        if letter in "Hh":
            raise InvalidArgumentError(f"{what} is 16-bit integers: pass dtype='bf16' if they are bfloat16 bits")
        raise UnsupportedError(
            f"{what} has element format {mv.format!r} ({mv.itemsize} bytes), which a browser or Pyodide rank cannot "
            f"send; use float32, float64, int32 or bf16 (as uint16 with dtype='bf16')"
        )
    raw = mv.cast("B") if mv.ndim <= 1 else mv.cast("B", (mv.nbytes,))
    size = ITEMSIZE[found]
    if raw.nbytes % size:
        raise InvalidArgumentError(f"{what} has {raw.nbytes} bytes, not a whole number of {found} elements")
    count = raw.nbytes // size
    return Staged(found, raw, count, tuple(data.shape) if is_numpy else (count,), is_numpy)


def empty(dtype: str, count: int):
    """A zeroed ``array.array`` of ``count`` elements of ``dtype`` for a result to be copied into."""
    return array.array(_typecode(dtype), [0]) * count  # one allocation, no temporary bytes


def finish(out: array.array, like: Staged, shape: tuple[int, ...] | None = None):
    """The result as the caller's kind: an ``array.array`` (flat), or a numpy array of ``shape`` when the caller
    passed numpy and the element count fits that shape."""
    if not like.numpy:
        return out
    import numpy as np

    arr = np.frombuffer(out, dtype=_NUMPY_NAMES[like.dtype])
    if shape is not None:
        n = 1
        for d in shape:
            n *= d
        if n == arr.size:
            return arr.reshape(shape)
    return arr
