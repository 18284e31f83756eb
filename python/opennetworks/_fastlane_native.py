"""The fast lane's native implementation: native/rank/fastlane.cc, loaded with ctypes.

The library is built by cmake with the Node addon (`npm run build:native` writes
build/Release/libonet_fastlane.so) and links the engine's own reduce kernels, so its results are the
engine's bit for bit. ctypes drops the GIL for the call, so other Python threads run while a rank waits.
Arguments travel in one packed struct (onet_fl_call_t): ctypes converts separate arguments ~15x slower.
"""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
LIB_PATH = _REPO / "build" / "Release" / "libonet_fastlane.so"

# onet_fl_call_t (native/rank/fastlane.h): inputs up to timeout_s, then nranks, ranks[64], msg[1024].
_CALL = struct.Struct("<QiiQiiiiQdQQQdd")
_OUT_NRANKS, _OUT_RANKS, _OUT_MSG, _CALL_BYTES = 96, 100, 356, 1384

_lib = None
_load_error: str | None = None


def load():
    """The loaded library, or None (see ``load_error()``) when it is missing or does not load."""
    global _lib, _load_error
    if _lib is not None or _load_error is not None:
        return _lib
    if not LIB_PATH.exists():
        _load_error = f"{LIB_PATH} is missing (run `npm run build:native`)"
        return None
    try:
        lib = ctypes.CDLL(str(LIB_PATH))
        lib.onet_fl_call.argtypes = [ctypes.c_void_p]
        lib.onet_fl_call.restype = ctypes.c_int
        lib.onet_fl_abort.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.onet_fl_abort.restype = None
        lib.onet_fl_isa.restype = ctypes.c_char_p
    except (OSError, AttributeError) as e:  # AttributeError: a stale library without onet_fl_call
        _load_error = f"cannot use {LIB_PATH}: {e} (rebuild with `npm run build:native`)"
        return None
    _lib = lib
    return lib


def load_error() -> str | None:
    load()
    return _load_error


class NativeImpl:
    """One communicator's segment driven by the C++ code."""

    name = "native"

    def __init__(self, lib, base: int, rank: int):
        self._call = lib.onet_fl_call
        self._abort = lib.onet_fl_abort
        self.base = base
        self.rank = rank
        self._buf = ctypes.create_string_buffer(_CALL_BYTES)
        self._addr = ctypes.addressof(self._buf)

    def run(
        self, seq, coll, dtype, redop, root, count, scale, in_addr, in_bytes, out_addr, spin_us, timeout_s, flags=0
    ):
        """0, or (code number, message, ranks). ``flags``: onet_fl_call_t.flags (DIRECT: a direct call)."""
        buf = self._buf
        _CALL.pack_into(
            buf, 0, self.base, self.rank, coll, seq, dtype, redop, root, flags, count, scale, in_addr, in_bytes,
            out_addr, spin_us, timeout_s,
        )  # fmt: skip
        rc = self._call(self._addr)
        if rc == 0:
            return 0
        n = min(64, int.from_bytes(buf.raw[_OUT_NRANKS:_OUT_RANKS], "little", signed=True))
        ranks = list(struct.unpack_from(f"<{n}i", buf, _OUT_RANKS)) if n > 0 else []
        msg = buf.raw[_OUT_MSG:].split(b"\0", 1)[0].decode(errors="replace")
        return rc, msg, ranks

    def complete(self, seq, coll, dtype, redop, root, count, scale, in_addr, out_addr, spin_us, timeout_s, flags=0):
        """Finish a call the Python side already published (PythonImpl.publish): ``in_addr`` is this rank's
        own block (a direct call: its own tensor), so with 0 input bytes onet_fl_call copies nothing, rewrites
        the same descriptor and sequence number, then waits and folds (or reads) as usual."""
        args = (seq, coll, dtype, redop, root, count, scale, in_addr, 0, out_addr, spin_us, timeout_s, flags)
        return self.run(*args)

    def abort(self, who: int) -> None:
        self._abort(self.base, who)
