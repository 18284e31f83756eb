"""Lightning 2.x: Trainer(strategy=DDPStrategy(process_group_backend="opennetworks"), accelerator="cpu",
devices=2) trains examples/lightning/train.py, and its final parameters equal the same run on gloo
(both runs at once: each is two real processes that Lightning starts itself)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("lightning", reason="lightning is not installed (pip install 'opennetworks[lightning]')")
torch = pytest.importorskip("torch", reason="torch is not installed")

pytestmark = pytest.mark.needs_coordinator

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXAMPLE = REPO / "examples" / "lightning" / "train.py"
TIMEOUT = 300


def test_ddp_strategy_opennetworks_equals_gloo():
    out = Path(tempfile.mkdtemp(prefix="ont-lightning-", dir="/tmp"))
    procs = {}
    for be in ("opennetworks", "gloo"):
        env = dict(
            os.environ,
            OMP_NUM_THREADS="1",
            PYTHONWARNINGS="ignore",
            ONET_RUN_DIR=str(out / "run"),
        )
        for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK"):
            env.pop(k, None)  # Lightning picks a free port and starts the second process itself
        cmd = [sys.executable, str(EXAMPLE), "--backend", be, "--out", str(out / f"{be}.pt")]
        procs[be] = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(out), start_new_session=True
        )
    texts = {}
    for be, p in procs.items():
        try:
            texts[be] = p.communicate(timeout=TIMEOUT)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            for q in procs.values():
                q.kill()
            pytest.fail(f"the {be} run did not finish within {TIMEOUT} s")
        assert p.returncode == 0, f"{be} run failed (rc {p.returncode}):\n{texts[be][-4000:]}"
    saved = {be: torch.load(out / f"{be}.pt", weights_only=False) for be in procs}
    assert saved["opennetworks"]["backend"] == "opennetworks", texts["opennetworks"][-2000:]
    assert saved["gloo"]["backend"] == "gloo"
    assert saved["opennetworks"]["world"] == saved["gloo"]["world"] == 2
    a, b = saved["opennetworks"]["params"], saved["gloo"]["params"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k}: opennetworks and gloo runs differ"
    assert "opennetworks: 2 processes, 4 steps" in texts["opennetworks"]
    shutil.rmtree(out, ignore_errors=True)
