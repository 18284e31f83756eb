"""Security from the Python side (docs/protocol.md §8): a coordinator started with ONET_JOB_TOKEN
admits a Python rank that holds the token (it sends an HMAC proof, never the token) and refuses
one without it with AccessDeniedError (EACCES); the refusal is counted in `onet status`.
"""

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

import pytest

import _harness

pytestmark = pytest.mark.needs_coordinator

RANK = """
import json, sys, numpy as np, opennetworks as on
try:
    c = on.init(rank=0, world=1)
    x = c.all_reduce(np.arange(4, dtype=np.float32))
    print("RESULT", json.dumps({"ok": x.tolist()}))
    c.client.close()
except on.OnetError as e:
    print("RESULT", json.dumps({"type": type(e).__name__, "code": e.code, "message": str(e)}))
"""


def _rank(env):
    p = subprocess.run(
        [sys.executable, "-c", RANK],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(_harness.REPO / "python"),
    )
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, p.stdout + p.stderr
    return json.loads(line[7:])


@pytest.fixture
def coordinator():
    token, observer = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    run_dir = tempfile.mkdtemp(prefix="onet-pysec-")
    job = f"pysec{os.getpid()}"
    env = {
        **os.environ,
        "ONET_RUN_DIR": run_dir,
        "ONET_JOB_ID": job,
        "ONET_JOB_TOKEN": token,
        "ONET_OBSERVER_TOKEN": observer,
        "ONET_AUTOSTART": "0",
        "ONET_CONNECT_TIMEOUT": "10",
    }
    node = os.environ.get("ONET_NODE", "node")
    proc = subprocess.Popen(
        [node, str(_harness.REPO / "bin" / "onet.js"), "serve", "--job", job, "--world", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "listening" not in (proc.stdout.readline() or ""):
        pass
    yield env, token, observer
    proc.terminate()
    proc.wait(10)


def test_rank_with_the_token_is_admitted_and_the_token_never_travels(coordinator):
    env, token, _ = coordinator
    assert _rank(env) == {"ok": [0.0, 1.0, 2.0, 3.0]}


def test_rank_without_the_token_is_refused_and_counted(coordinator):
    env, token, observer = coordinator
    stranger = {k: v for k, v in env.items() if k not in ("ONET_JOB_TOKEN",)}
    got = _rank(stranger)
    assert got["type"] == "AccessDeniedError" and got["code"] == "EACCES"
    assert "no proof of the job token" in got["message"] and token not in got["message"]
    wrong = {**env, "ONET_JOB_TOKEN": secrets.token_urlsafe(32)}
    assert "HMAC does not match" in _rank(wrong)["message"]
    st = subprocess.run(
        [os.environ.get("ONET_NODE", "node"), str(_harness.REPO / "bin" / "onet.js"), "status", "--json"],
        env={**stranger, "ONET_OBSERVER_TOKEN": observer},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(st.stdout)["security"] == {"tokenRequired": True, "refusals": 2}


def test_calls_after_close_are_refused_clearly(coordinator):
    env, _, _ = coordinator
    script = RANK.replace(
        'print("RESULT", json.dumps({"ok": x.tolist()}))\n    c.client.close()',
        "c.client.close()\n    c.all_reduce(np.arange(4, dtype=np.float32))\n"
        '    print("RESULT", json.dumps({"ok": "no error"}))',
    )
    assert script != RANK
    p = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(_harness.REPO / "python"),
    )
    got = json.loads(next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert got.get("type") == "ClosedError" and got["code"] == "ECLOSED", got


def test_auth_proof_matches_the_node_side():
    import hashlib
    import hmac

    from opennetworks._client import auth_proof

    p = auth_proof("k", ["register", "job", 3, 42])
    text = "|".join(["onet-v1", "register", "job", "3", "42", str(p["ts"]), p["nonce"]])
    assert p["mac"] == hmac.new(b"k", text.encode(), hashlib.sha256).hexdigest()
    assert len(p["nonce"]) == 32 and abs(p["ts"] - time.time() * 1000) < 5000
