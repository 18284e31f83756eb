"""Elastic torchrun (c10d rendezvous on loopback, one agent per "host", each host its own loopback
address and run directory): examples/torch/elastic_train.py loses a host, or gains one, resumes
with fresh coordinators and the new world size, and ends with the parameters the same training
gives when done by hand in one process with the same world size per step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from _harness import REPO, free_port

pytestmark = pytest.mark.needs_coordinator
EXAMPLE = REPO / "examples" / "torch" / "elastic_train.py"
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def _agent(i: int, tmp: Path, port: int, extra: dict) -> subprocess.Popen:
    node = tmp / f"node{i}"
    node.mkdir(exist_ok=True)
    env = dict(os.environ)
    for k in ("ONET_JOB_ID", "MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        env.pop(k, None)
    env.update(
        {
            "ONET_IFNAME": f"127.0.0.{2 + i}",
            "ONET_RUN_DIR": str(node / "run"),
            "SNAPSHOT_DIR": str(node),
            "OMP_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore",
            "ONET_TIMEOUT": "30",
            "ONET_HEARTBEAT_MS": "200",
            # torch 2.13's shared rendezvous TCPStore never gives a node that joins later the new
            # round's MASTER_ADDR (dynamic_rendezvous.py: only a first rendezvous or a new rank 0
            # publishes it), so scaling up hangs; the opt-out builds the store info every round.
            "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
        }
    )
    env.update(extra)
    cmd = [
        TORCHRUN,
        "--nnodes",
        "2:3",
        "--nproc-per-node",
        "1",
        "--max-restarts",
        "3",
        "--monitor-interval",
        "0.2",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--rdzv-id",
        f"el{os.getpid()}{port}",
        "--rdzv-conf",
        "last_call_timeout=1,join_timeout=60",
        str(EXAMPLE),
    ]
    log = open(node / "agent.log", "w+b")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))


def _logs(tmp: Path) -> str:
    return "\n".join(
        f"--- {p} ---\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(tmp.glob("node*/agent.log"))
    )


def _wait(procs, tmp, timeout):
    end = time.monotonic() + timeout
    rcs = []
    for p in procs:
        try:
            rcs.append(p.wait(max(1, end - time.monotonic())))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"elastic run did not finish in {timeout} s\n{_logs(tmp)}")
    return rcs


def _reference(history, steps):
    """One process: each step's gradient averaged over that step's world, Adam as in the example."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = torch.nn.Linear(8, 1)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        bounds = [s for s, _ in history] + [steps]
        for (start, world), end in zip(history, bounds[1:]):
            for step in range(start, end):
                grads = []
                for r in range(world):
                    g = torch.Generator().manual_seed(1000 * r + step)
                    x, y = torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)
                    opt.zero_grad()
                    torch.nn.functional.mse_loss(model(x), y).backward()
                    grads.append([p.grad.clone() for p in model.parameters()])
                for k, p in enumerate(model.parameters()):
                    total = grads[0][k].clone()
                    for gr in grads[1:]:
                        total += gr[k]
                    p.grad = total / world
                opt.step()
        return [p.detach() for p in model.parameters()]
    finally:
        torch.set_num_threads(threads)


def _final(tmp: Path):
    finals = list(tmp.glob("node*/final.pt"))
    assert len(finals) == 1, _logs(tmp)
    return torch.load(finals[0])


def test_a_host_lost_resumes_with_fewer_ranks(tmp_path):
    port = free_port()
    steps = 8
    procs = [_agent(0, tmp_path, port, {"STEPS": str(steps)})]
    time.sleep(1.0)  # the first agent hosts the rendezvous store; it must not be the one killed
    procs += [
        _agent(i, tmp_path, port, {"STEPS": str(steps), "KILL_HOST_AT": "3", "KILL_NODE": str(int(i == 2))})
        for i in (1, 2)
    ]
    rcs = _wait(procs, tmp_path, 150)
    assert rcs[0] == 0 and rcs[1] == 0, _logs(tmp_path)
    assert rcs[2] == -9, _logs(tmp_path)
    out = _final(tmp_path)
    assert out["history"][0] == (0, 3) and out["history"][-1] == (3, 2), out["history"]
    for a, b in zip(out["params"], _reference(out["history"], steps)):
        assert torch.equal(a, b), _logs(tmp_path)


def test_a_host_added_catches_up_with_sync_state(tmp_path):
    port = free_port()
    steps = 10
    env = {"STEPS": str(steps), "HOLD_AT": "3", "WAIT_WORLD": "3"}
    procs = [_agent(0, tmp_path, port, env)]
    time.sleep(1.0)
    procs.append(_agent(1, tmp_path, port, env))
    # The third host arrives once the first two have trained a few steps.
    end = time.monotonic() + 90
    while not (tmp_path / "node1" / "snapshot.pt").exists() and time.monotonic() < end:
        time.sleep(0.2)
    time.sleep(1.0)
    procs.append(_agent(2, tmp_path, port, env))
    rcs = _wait(procs, tmp_path, 150)
    assert rcs == [0, 0, 0], _logs(tmp_path)
    out = _final(tmp_path)
    assert out["history"] == [(0, 2), (3, 3)], out["history"]
    for a, b in zip(out["params"], _reference(out["history"], steps)):
        assert torch.equal(a, b), _logs(tmp_path)
