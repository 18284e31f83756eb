"""Launchers, init methods, the numpy API and arena limits, against the real coordinator."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import _harness

pytestmark = pytest.mark.needs_coordinator

SCRIPT = """
import torch, torch.distributed as dist
dist.init_process_group("opennetworks")   # no import of opennetworks: the torch entry point registers it
t = torch.ones(4) * (dist.get_rank() + 1)
dist.all_reduce(t)
import sys
sys.stdout.write(f"RESULT {dist.get_rank()} {t.tolist()}\\n")  # one write: atomic on a pipe
sys.stdout.flush()
dist.destroy_process_group()
"""


def _expected_sum(world):
    return [float(sum(range(1, world + 1)))] * 4


def _script(tmp_path):
    p = tmp_path / "train.py"
    p.write_text(SCRIPT)
    return p


def _env(tmp_path):
    e = dict(os.environ, PYTHONWARNINGS="ignore", ONET_RUN_DIR=str(tmp_path / "run"), OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "ONET_JOB_ID", "TORCHELASTIC_RUN_ID"):
        e.pop(k, None)
    return e


def test_torchrun(tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    out = subprocess.run(
        [torchrun, "--nproc-per-node", "2", "--master-port", str(_harness.free_port()), str(_script(tmp_path))],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # Both ranks share torchrun's stdout, so their lines may interleave: match, do not split.
    found = re.findall(r"RESULT (\d) (\[[^\]]*\])", out.stdout)
    assert sorted(r for r, _ in found) == ["0", "1"], out.stdout
    assert all(v == str(_expected_sum(2)) for _, v in found), out.stdout


def test_onet_run(tmp_path):
    node = os.environ.get("ONET_NODE", "node")
    out = subprocess.run(
        [node, str(_harness.REPO / "bin" / "onet.js"), "run", "-n", "3", "--", sys.executable, str(_script(tmp_path))],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [ln for ln in out.stdout.splitlines() if "RESULT" in ln]
    assert len(lines) == 3 and all(str(_expected_sum(3)) in ln for ln in lines), out.stdout


@pytest.mark.parametrize("init", ["env", "tcp", "store"])
def test_init_methods(init):
    env = {"ONET_TEST_INIT": init}
    if init == "store":  # no launcher variables at all: the job id is agreed through the store
        env.update(ONET_TEST_PORT=str(_harness.free_port()), MASTER_ADDR="", ONET_JOB_ID="")
    run = _harness.run_ranks(2, "smoke", env=env)
    assert all(r is not None for r in run.results), run.describe()
    for r in run.results:
        assert torch.equal(r["sum"], torch.arange(5, dtype=torch.float32) * 3)
    assert run.results[0]["job"] == run.results[1]["job"]


def test_numpy_communicator():
    P = 3
    run = _harness.run_ranks(P, "numpy")
    assert all(r is not None for r in run.results), run.describe()
    for rank, r in enumerate(run.results):
        base = np.arange(6, dtype=np.float32)
        np.testing.assert_array_equal(r["all_reduce"], base * P + sum(range(P)))
        np.testing.assert_array_equal(r["max"], base + P - 1)
        np.testing.assert_array_equal(r["broadcast"], np.full(3, P - 1))
        np.testing.assert_array_equal(r["all_gather"], np.repeat(np.arange(P, dtype=np.int32)[:, None], 2, 1))
        np.testing.assert_array_equal(r["reduce_scatter"], np.full(3, sum(range(1, P + 1)), np.float64))
        expect = np.concatenate([np.arange(rank * 2, rank * 2 + 2) + 100 * j for j in range(P)])
        np.testing.assert_array_equal(r["all_to_all"], expect)
    assert run.results[1]["recv_src"] == 0
    np.testing.assert_array_equal(run.results[1]["recv"], np.full(4, 7.0, np.float32))


def test_small_arena_chunks_and_names_the_setting():
    # The copy path (ONET_CMA_MIN_BYTES=0, ONET_FASTLANE_DIRECT_MIN_BYTES=0): single copy or a direct lane call
    # would gather 4 MB without the arena.
    env = {"ONET_ARENA_BYTES": "2MiB", "ONET_CMA_MIN_BYTES": "0", "ONET_FASTLANE_DIRECT_MIN_BYTES": "0"}
    run = _harness.run_ranks(2, "arena", env=env)
    assert all(r is not None for r in run.results), run.describe()
    for r in run.results:
        assert r["allreduce_ok"] and r["broadcast_ok"]
        kind, msg = r["gather"]
        assert kind == "InvalidArgumentError" and "ONET_ARENA_BYTES" in msg, msg
        assert torch.equal(r["after"], torch.full((3,), 2.0))


def test_destroy_and_init_again():
    run = _harness.run_ranks(3, "reinit")
    assert all(r is not None for r in run.results), run.describe()
    for r in run.results:
        for round_, (t, u) in enumerate(r):
            assert torch.equal(t, torch.full((3,), float(3 + 3 * round_)))
            assert torch.equal(u, torch.full((2,), 3.0))
