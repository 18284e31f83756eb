"""Fast-lane capability (docs/protocol.md §2 `register` `fastlane` and `lane`): which ranks declare the
lane, and the coordinator's answer for a communicator: the lane only when every member declared it,
never before every member registered (so registration order cannot change it).

Real processes and a real `onet serve`; tests/../test/fastlane_mixed.test.ts covers Node ranks.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

import _harness
from opennetworks import _env, _fastlane_cap
from opennetworks._fastlane_layout import VERSION


@pytest.mark.parametrize(
    ("framework", "world", "local_world", "max_bytes", "want"),
    [
        ("python", 2, 2, None, VERSION),  # the default: on
        ("torch", 3, 3, "64KiB", VERSION),
        ("jax", 2, 2, None, VERSION),  # the FFI custom call runs the lane too
        ("python", 4, 2, None, 0),  # several hosts
        ("torch", 2, 2, "0", 0),  # the user's override
    ],
)
def test_which_ranks_declare_the_lane(monkeypatch, framework, world, local_world, max_bytes, want):
    if max_bytes is None:
        monkeypatch.delenv("ONET_FASTLANE_MAX_BYTES", raising=False)
    else:
        monkeypatch.setenv("ONET_FASTLANE_MAX_BYTES", max_bytes)
    info = _env.RankInfo(rank=0, world=world, local_rank=0, local_world=local_world)
    assert _fastlane_cap.declared(framework, info) == want


# Rank 0 asks before the others registered (ETIMEDOUT naming them), then again: [0, 1] declared
# the lane, rank 2 did not (ONET_FASTLANE_MAX_BYTES=0 there), so [0, 1] may use it and [0, 2] may not.
ASKER = """
import json, sys
from opennetworks import _comm, _fastlane_cap
from opennetworks._errors import OnetError
c = _comm.get_client(rank=0, world=3)
out = {"declared": c.coordinator.fastlane}
try:
    _fastlane_cap.allowed(c, [0, 1, 2], 0.3)
except OnetError as e:
    out["early"] = [e.code, e.ranks, str(e)]
print("EARLY", flush=True)
out["01"] = _fastlane_cap.allowed(c, [0, 1], 20)
out["02"] = _fastlane_cap.allowed(c, [0, 2], 20)
out["012"] = _fastlane_cap.allowed(c, [0, 1, 2], 20)
print("RESULT", json.dumps(out), flush=True)
c.close()
"""
PEER = """
import sys, time
from opennetworks import _comm
c = _comm.get_client(rank=int(sys.argv[1]), world=3)
time.sleep(float(sys.argv[2]))
c.close()
"""


@pytest.mark.needs_coordinator
def test_answer_waits_for_every_member_and_follows_their_declarations():
    run_dir = tempfile.mkdtemp(prefix="onet-flcap-")
    job = f"flcap{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONET_")}
    env.update(ONET_RUN_DIR=run_dir, ONET_JOB_ID=job, ONET_AUTOSTART="0", ONET_CONNECT_TIMEOUT="20")
    env.update(LOCAL_WORLD_SIZE="3", PYTHONPATH=str(_harness.REPO / "python"))
    node = os.environ.get("ONET_NODE", "node")
    coord = subprocess.Popen(
        [node, str(_harness.REPO / "bin" / "onet.js"), "serve", "--job", job, "--world", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    procs = [coord]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "listening" not in (coord.stdout.readline() or ""):
            pass
        asker = subprocess.Popen(
            [sys.executable, "-c", ASKER], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        procs.append(asker)
        lines = []
        while time.monotonic() < deadline:  # the early answer came before any peer exists
            ln = asker.stdout.readline()
            lines.append(ln)
            if not ln or ln.startswith("EARLY"):
                break
        assert lines[-1].startswith("EARLY"), "".join(lines)
        procs.append(
            subprocess.Popen([sys.executable, "-c", PEER, "2", "8"], env={**env, "ONET_FASTLANE_MAX_BYTES": "0"})
        )
        time.sleep(0.5)  # rank 2 first: the answer must not depend on who registered last
        procs.append(subprocess.Popen([sys.executable, "-c", PEER, "1", "8"], env=env))
        rest, _ = asker.communicate(timeout=40)
        text = "".join(lines) + rest
        res = json.loads(next(ln for ln in text.splitlines() if ln.startswith("RESULT "))[7:])
        assert res["declared"] == VERSION, text
        code, ranks, msg = res["early"]
        assert code == "ETIMEDOUT" and ranks == [1, 2] and "did not register" in msg, text
        assert (res["01"], res["02"], res["012"]) == (VERSION, 0, 0), text
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
