"""Build opennetworks._onet_c10d (native/torch/onet_c10d.cc) against the installed torch.

    .venv/bin/python -m opennetworks.torch._c10d_build          # `npm install` runs this (scripts/setup.mjs)

One translation unit, compiled with torch's headers and its C++ ABI flag and linked to torch's libraries,
into build/c10d/ under a name that carries the torch and Python versions (``module_path()``), so that a
module built for another torch is never loaded. Without torch, its headers or a C++ compiler it prints why
and exits 0: the backend then runs its Python implementation (ONET_TORCH_IMPL=auto).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[3]
SOURCE = _REPO / "native" / "torch" / "onet_c10d.cc"
FASTLANE_H = _REPO / "native" / "rank" / "fastlane.h"  # its inline rules (direct_call) are compiled in


def module_path() -> Path:
    """Where the module for this torch and this Python lives (it may not exist)."""
    import torch

    tag = f"torch{torch.__version__}".replace("+", "_")
    return _REPO / "build" / "c10d" / f"_onet_c10d-{tag}{sysconfig.get_config_var('EXT_SUFFIX')}"


def command(out: Path) -> list[str]:
    import torch
    from torch.utils import cpp_extension

    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        raise FileNotFoundError("no C++ compiler (c++ or g++, or $CXX) on PATH")
    incs = [*cpp_extension.include_paths(), sysconfig.get_paths()["include"], str(_REPO / "native" / "rank")]
    libdirs = cpp_extension.library_paths()
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    return [
        cxx, "-O2", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-w",
        f"-D_GLIBCXX_USE_CXX11_ABI={abi}", "-DTORCH_EXTENSION_NAME=_onet_c10d", "-DTORCH_API_INCLUDE_EXTENSION_H",
        *(f"-I{p}" for p in incs), str(SOURCE), "-o", str(out),
        *(f"-L{p}" for p in libdirs), *(f"-Wl,-rpath,{p}" for p in libdirs),
        "-lc10", "-ltorch", "-ltorch_cpu", "-ltorch_python",
    ]  # fmt: skip


def build(force: bool = False) -> int:
    try:
        import torch  # noqa: F401

        out = module_path()
        cmd = command(out)
    except (ImportError, FileNotFoundError) as e:
        print(f"[c10d] skipped: {e}; the torch backend runs in Python (ONET_TORCH_IMPL=auto)")
        return 0
    newest = max(SOURCE.stat().st_mtime, FASTLANE_H.stat().st_mtime)
    if not force and out.exists() and out.stat().st_mtime >= newest:
        print(f"[c10d] up to date: {out.relative_to(_REPO)}")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    cmd[cmd.index(str(out))] = str(tmp)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        print(r.stdout + r.stderr, file=sys.stderr)
        print(f"[c10d] compile failed (exit {r.returncode}); the torch backend runs in Python", file=sys.stderr)
        return 0 if os.environ.get("ONET_TORCH_IMPL", "auto") != "compiled" else 1
    os.replace(tmp, out)
    print(f"[c10d] built {out.relative_to(_REPO)} in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(build(force="--force" in sys.argv))
