"""One rank of test_cma_forge.py (`python _cma_forge_worker.py MODE`): the last rank forges the pid of its
single-copy broadcast.

It forks a child (same addresses, copy-on-write pages), the child overwrites its copy of the tensor with a
secret, and the rank posts its broadcast naming the child's pid: an engine that trusted ``cma_pid`` would
read the child's memory and hand the secret to every rank. MODE "slot": the rank registered with its own pid
and patches the slot's pid; MODE "register": the child is forked before init_process_group and the rank
registers with the child's pid, then posts with it (the engine sees the child does not map the arena). Each
rank records the error it got (code, ranks, message) or what it received, then every rank checks that the
coordinator is still up and that the next collectives (single copy and copy path) are exact. Writes
ONET_OUT/rank<r>.json.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401  (registers the backend)
from opennetworks import _client
from opennetworks._gen.layout import FLAG_CMA

MODE = sys.argv[1]
RANK = int(os.environ["RANK"])
N = (1 << 16) + 3  # f32: above test_cma_forge's ONET_CMA_MIN_BYTES, one piece
SECRET = -7.0


def error_of(e: BaseException) -> dict:
    return {
        "type": type(e).__name__,
        "code": getattr(e, "code", None),
        "ranks": list(getattr(e, "ranks", [])),
        "message": str(e),
    }


def fork_victim(t: torch.Tensor) -> tuple[int, int]:
    """A child whose copy of t's pages holds SECRET; returns (its pid, the fd that keeps it alive)."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child only fills its pages and waits: no ZeroMQ, no torch threads
        try:
            os.close(ready_r)
            os.close(hold_w)
            t.fill_(SECRET)
            os.write(ready_w, b"x")
            os.read(hold_r, 1)  # until the rank closes hold_w
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    os.read(ready_r, 1)
    os.close(ready_r)
    return pid, hold_w


def main() -> None:
    P = int(os.environ["WORLD_SIZE"])
    forger = P - 1
    t = torch.arange(N, dtype=torch.float32) if RANK == forger else torch.zeros(N, dtype=torch.float32)
    victim = hold = None
    real_os = _client.os
    if RANK == forger and MODE == "register":  # the register message carries the child's pid
        victim, hold = fork_victim(t)
        _client.os = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os)})
        _client.os.getpid = lambda: victim
    try:
        dist.init_process_group("opennetworks")
    finally:
        _client.os = real_os
    pg = dist.group.WORLD._get_backend(torch.device("cpu"))
    eng = pg._eng
    out: dict = {"rank": RANK, "cma_min": pg._cma_min, "coord_pid": pg._client.coord_pid}
    flags: list[int] = []
    real_post = eng.post

    def post(*a, **kw):
        flags.append(kw.get("flags", 0))
        return real_post(*a, **kw)

    eng.post = post
    if RANK == forger:
        if MODE == "slot":
            victim, hold = fork_victim(t)
        else:  # its probe was refused (its own pid is not the registered one): single copy regardless
            pg._cma_min = int(os.environ["ONET_CMA_MIN_BYTES"])
        out["victim"] = victim
        eng.cma_pid = victim  # the forgery: the slot's cma_pid names another live process
    try:
        dist.broadcast(t, forger)
        out["error"] = None
        out["secret_seen"] = int((t == SECRET).sum())
    except Exception as e:  # noqa: BLE001 - recorded, the test asserts on it
        out["error"] = error_of(e)
    finally:
        if RANK == forger:
            eng.cma_pid = os.getpid()
            if MODE == "slot":
                os.close(hold)
                os.waitpid(victim, 0)
    out["forged_post_cma"] = any(f & FLAG_CMA for f in flags)

    # The coordinator survived and the group still works, by single copy and by the copy path (a rank that
    # registered with another pid has no single copy: it copies in both rounds, as its probe decided).
    own = 0 if RANK == forger and MODE == "register" else pg._cma_min
    nexts = {}
    for name, thr in (("single", own), ("copy", 0)):
        pg._cma_min = thr
        try:
            x = torch.full((N,), float(RANK + 1))
            dist.all_reduce(x)
            b = torch.arange(N, dtype=torch.float32) if RANK == forger else torch.zeros(N)
            dist.broadcast(b, forger)
            nexts[name] = bool((x == P * (P + 1) / 2).all()) and bool(torch.equal(b, torch.arange(N).float()))
        except Exception as e:  # noqa: BLE001
            nexts[name] = error_of(e)
    out["next"] = nexts
    try:
        os.kill(out["coord_pid"], 0)
        out["coord_alive"] = True
    except OSError:
        out["coord_alive"] = False
    eng.post = real_post
    Path(os.environ["ONET_OUT"], f"rank{RANK}.json").write_text(json.dumps(out))
    dist.destroy_process_group()
    if MODE == "register" and RANK == forger:  # the coordinator watches the registered pid: keep it till now
        os.close(hold)
        os.waitpid(victim, 0)


if __name__ == "__main__":
    main()
