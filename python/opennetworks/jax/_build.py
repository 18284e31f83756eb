"""Builds bindings/jax (the XLA FFI library) on first use and caches it by content hash.

The library is small (one C++ file and native/common/proc_alive.cc, against jax's FFI headers and
native/shm/layout.h): cmake when it is on PATH, else the C++ compiler directly. Concurrent ranks share one build via a
file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import _env
from .._errors import UnsupportedError

_REPO = Path(__file__).resolve().parents[3]
SRC_DIR = _REPO / "bindings" / "jax"
SOURCE = SRC_DIR / "onet_jax.cc"
LAYOUT = _REPO / "native" / "shm" / "layout.h"
# The fast lane's C API (its onet_fl_call_t); the code itself is loaded from build/Release/libonet_fastlane.so.
FASTLANE_H = _REPO / "native" / "rank" / "fastlane.h"
# The adaptive spin of engine waits (bindings/jax/CMakeLists.txt compiles it in too).
SPIN_POLICY = (_REPO / "native" / "shm" / "spin_policy.cc", _REPO / "native" / "shm" / "spin_policy.h")
# Compiled in too: is the coordinator alive (pid + start time; a zombie is not).
PROC_ALIVE = (_REPO / "native" / "common" / "proc_alive.cc", _REPO / "native" / "common" / "proc_alive.h")
# The generated headers it includes (spec/enums.json, spec/layout.json, spec/errors.json): part of the cache key.
GENERATED = (
    _REPO / "native" / "common" / "gen" / "enums.h",
    _REPO / "native" / "common" / "gen" / "layout.h",
    _REPO / "native" / "common" / "gen" / "errors.h",
)
LIB_NAME = "libonet_jax.so"


def build_root() -> Path:
    d = _env.setting("ONET_JAX_BUILD_DIR")
    if d:
        return Path(d).resolve()  # the build runs in its own directory
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "opennetworks" / "jax"


def _key(include_dir: str) -> str:
    import jax

    h = hashlib.sha256()
    for p in (SOURCE, SRC_DIR / "CMakeLists.txt", LAYOUT, FASTLANE_H, *GENERATED, *PROC_ALIVE, *SPIN_POLICY):
        h.update(p.read_bytes())
    h.update(jax.__version__.encode())
    h.update(include_dir.encode())
    return h.hexdigest()[:16]


def _run(cmd: list[str], cwd: str) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise UnsupportedError(
            f"building the opennetworks.jax FFI library failed ({' '.join(cmd[:3])} ...):\n"
            f"{(r.stdout + r.stderr)[-3000:]}\nset ONET_JAX_IMPL=callback to use the portable path"
        )


def _compile(include_dir: str, tmp: str) -> Path:
    if shutil.which("cmake"):
        _run(
            ["cmake", "-S", str(SRC_DIR), "-B", tmp, f"-DJAX_INCLUDE_DIR={include_dir}", "-DCMAKE_BUILD_TYPE=Release"],
            tmp,
        )
        _run(["cmake", "--build", tmp], tmp)
        return Path(tmp) / LIB_NAME
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        raise UnsupportedError(
            "no C++ compiler (c++, g++, clang++) or cmake found to build the "
            "opennetworks.jax FFI library; install one or set ONET_JAX_IMPL=callback"
        )
    out = Path(tmp) / LIB_NAME
    _run(
        [
            cxx,
            "-O2",
            "-std=c++17",
            "-shared",
            "-fPIC",
            "-isystem",
            include_dir,
            "-I",
            str(_REPO / "native"),
            str(SOURCE),
            str(PROC_ALIVE[0]),
            str(SPIN_POLICY[0]),
            "-o",
            str(out),
        ],
        tmp,
    )
    return out


def library_path() -> Path:
    """Path of the built library, building it when this version has not been built yet."""
    if not SOURCE.exists():
        raise UnsupportedError(
            f"the opennetworks.jax FFI source {SOURCE} is missing (the package is "
            "installed without the repository); set ONET_JAX_IMPL=callback"
        )
    import jax

    include_dir = jax.ffi.include_dir()
    root = build_root()
    target = root / _key(include_dir) / LIB_NAME
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(prefix="build-", dir=root) as tmp:
            built = _compile(include_dir, tmp)
            staged = target.with_suffix(".tmp")
            shutil.copy2(built, staged)
            os.replace(staged, target)
    return target
