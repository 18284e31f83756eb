"""Liveness of local processes from the process itself (opennetworks._client._pid_alive).

A zombie (exited, not reaped) or a pid that another process holds now is dead: the identity is
(pid, start time). End to end: a Python rank left a zombie by its parent fails the survivor
with AbortedError naming it, long before ONET_TIMEOUT (60 s here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from _harness import REPO
from opennetworks._client import _pid_alive, _pid_start


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return ""


def _until(what: str, ok, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > end:
            raise AssertionError(f"never: {what}")
        time.sleep(0.02)


def _unreaped(cmd: str, env: dict | None = None) -> tuple[subprocess.Popen, int]:
    """Run cmd under a shell that then becomes `sleep 600`, which never reaps it: a zombie when it exits."""
    parent = subprocess.Popen(["sh", "-c", f'{cmd} & echo "$!"; exec sleep 600'], stdout=subprocess.PIPE, env=env)
    return parent, int(parent.stdout.readline())


def test_zombie_is_dead():
    parent, pid = _unreaped("sleep 0.2")
    try:
        _until("the child is a zombie", lambda: _state(pid) == "Z")
        os.kill(pid, 0)  # still "exists" for kill(pid, 0): what the old check relied on
        assert not _pid_alive(pid)
        assert _pid_start(pid) == 0
    finally:
        parent.kill()
        parent.wait()


def test_identity_of_a_reused_pid_is_dead():
    a = subprocess.Popen(["sleep", "600"])
    b = None
    try:
        _until("a started", lambda: _pid_start(a.pid) > 0)
        recorded = _pid_start(a.pid)
        assert _pid_alive(a.pid, recorded)
        time.sleep(0.05)  # start times count 10 ms ticks: b starts on a later one
        b = subprocess.Popen(["sleep", "600"])
        _until("b started", lambda: _pid_start(b.pid) > 0)
        assert _pid_start(b.pid) != recorded
        # b holds the pid that a was recorded under: not the process we met.
        assert not _pid_alive(b.pid, recorded)
        assert _pid_alive(b.pid, _pid_start(b.pid))
        a.kill()
        a.wait()
        assert not _pid_alive(a.pid, recorded)
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


RANK = textwrap.dedent("""
    import json, os, signal, sys, time
    import numpy as np
    import opennetworks as on
    comm = on.init()
    if comm.rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # registered, then gone without a word
    t0 = time.monotonic()
    try:
        comm.all_reduce(np.ones(4, np.float32))
        print("RESULT " + json.dumps({"ok": True}), flush=True)
    except on.OnetError as e:
        print("RESULT " + json.dumps({"type": type(e).__name__, "code": e.code, "ranks": e.ranks,
                                       "message": str(e), "s": time.monotonic() - t0}), flush=True)
""")


@pytest.mark.needs_coordinator
def test_zombie_rank_aborts_the_survivor(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK)
    job = f"pyzombie-{os.getpid()}"
    env = dict(
        os.environ,
        ONET_JOB_ID=job,
        ONET_TIMEOUT="60",
        WORLD_SIZE="2",
        LOCAL_WORLD_SIZE="2",
        PYTHONPATH=str(REPO / "python"),
    )
    env.pop("ONET_AUTOSTART", None)
    node = os.environ.get("ONET_NODE", "node")
    coord = subprocess.Popen(
        [node, str(REPO / "bin" / "onet.js"), "serve", "--job", job, "--world", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    parent = survivor = None
    try:
        for line in coord.stdout:
            if "listening" in line:
                break
        env0 = dict(env, RANK="0", LOCAL_RANK="0", ONET_AUTOSTART="0")
        env1 = dict(env, RANK="1", LOCAL_RANK="1", ONET_AUTOSTART="0")
        survivor = subprocess.Popen([sys.executable, str(script)], env=env0, stdout=subprocess.PIPE, text=True)
        parent, pid = _unreaped(f"'{sys.executable}' '{script}'", env1)
        out, _ = survivor.communicate(timeout=45)  # today's kill(pid, 0) waits the full 60 s
        assert _state(pid) == "Z", "rank 1 should have been a zombie the whole time"
        res = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert res, out
        r = json.loads(res[0][7:])
        assert r.get("type") == "AbortedError", r
        assert r["code"] == "EABORTED"
        assert f"rank 1 (pid {pid}) died" in r["message"]
        assert 1 in r["ranks"]
    finally:
        for p in (survivor, parent):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        coord.terminate()  # SIGTERM: it unlinks its segments on the way out
        try:
            coord.wait(10)
        except subprocess.TimeoutExpired:
            coord.kill()
            coord.wait()
