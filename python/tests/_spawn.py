"""Run a script as N real rank processes with torchrun-style variables (like _harness.run_ranks, but
any script, e.g. the files in examples/), each rank's output in its own log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _harness


def rank_env(world: int, out: Path, job: str) -> dict:
    """This process's environment plus the torchrun-style variables of a one-host job of `world` ranks
    (the RANK/LOCAL_RANK of each rank are added by the caller), its run directory under `out`."""
    base = dict(
        os.environ,
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_harness.free_port()),
        ONET_JOB_ID=job,
        ONET_RUN_DIR=str(out / "run"),
        OMP_NUM_THREADS="1",
        PYTHONWARNINGS="ignore",
    )
    base.pop("TORCHELASTIC_RUN_ID", None)
    return base


def run_script(
    world: int,
    script: Path,
    args: tuple = (),
    env: dict | None = None,
    timeout: float = 60,
    delays: dict[int, float] | None = None,
) -> _harness.RunResult:
    """``delays``: seconds to wait before starting a rank (a rank that starts late)."""
    out = Path(tempfile.mkdtemp(prefix="ont-", dir="/tmp"))
    job = f"s{os.getpid()}-{int(time.time() * 1000) % 10_000_000}"
    base = rank_env(world, out, job)
    base.update(ONET_OUT=str(out), PYTHONFAULTHANDLER="1")
    base.update(env or {})
    procs, logs = {}, []
    order = sorted(range(world), key=lambda r: (delays or {}).get(r, 0.0))
    t0 = time.monotonic()
    for r in order:
        wait = (delays or {}).get(r, 0.0) - (time.monotonic() - t0)
        if wait > 0:
            time.sleep(wait)
        log = open(out / f"rank{r}.log", "w+b")
        logs.append((r, log))
        e = dict(base, RANK=str(r), LOCAL_RANK=str(r))
        procs[r] = subprocess.Popen(
            [sys.executable, str(script), *map(str, args)], env=e, stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + timeout
    rcs = []
    for r in range(world):
        try:
            rcs.append(procs[r].wait(max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:  # SIGABRT first: faulthandler prints where it hung
            procs[r].send_signal(signal.SIGABRT)
            try:
                rcs.append(procs[r].wait(3))
            except subprocess.TimeoutExpired:
                procs[r].kill()
                rcs.append(procs[r].wait())
    texts = [""] * world
    for r, log in logs:
        log.seek(0)
        texts[r] = log.read().decode(errors="replace")
        log.close()
    import torch

    results = [torch.load(out / f"rank{r}.pt") if (out / f"rank{r}.pt").exists() else None for r in range(world)]
    _harness._stop_coordinator(out / "run" / job)
    return _harness.RunResult(results, rcs, texts, out)


def rank_results(res, ranks: int) -> list:
    """The ``rank<r>.json`` of ranks 0 .. ranks-1 in the run directory of ``res`` (a ``run_script`` result),
    parsed; fails the test naming the rank whose file is missing."""
    import json

    outs = []
    for r in range(ranks):
        p = res.run_dir / f"rank{r}.json"
        assert p.exists(), f"rank {r} wrote no result (rc {res.returncodes}):\n{res.logs[r][-3000:]}"
        outs.append(json.loads(p.read_text()))
    return outs


def run_json_ranks(world: int, script: Path, args: tuple = (), env: dict | None = None, timeout: float = 120) -> list:
    """``run_script``, then every rank's ``rank_results``; fails the test when any rank exited non-zero."""
    res = run_script(world, script, args, env=env, timeout=timeout)
    outs = rank_results(res, world)
    assert res.returncodes == [0] * world, res.logs
    return outs


def collect_json_ranks(procs: list, out: Path, timeout: float) -> list:
    """Wait for rank processes started with their output in a log file ((Popen, log) pairs, in rank
    order), killing those still running after `timeout` s. Returns (rank, returncode, the JSON in
    out/rank<r>.json or None, the log text) per rank."""
    import json

    deadline = time.monotonic() + timeout
    report = []
    for r, (p, log) in enumerate(procs):
        try:
            rc = p.wait(max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        log.seek(0)
        text = log.read().decode(errors="replace")
        log.close()
        f = out / f"rank{r}.json"
        report.append((r, rc, json.loads(f.read_text()) if f.exists() else None, text))
    return report


def launch_json_ranks(world: int, argv, env: dict, timeout: float, prefix: str = "ont-") -> list:
    """Start `world` rank processes ``python *argv(out)`` (out: a fresh directory the ranks write
    rank<r>.json into) with torchrun-style variables plus `env`, then `collect_json_ranks` them and stop
    their coordinator. Returns collect_json_ranks's report."""
    out = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    job = f"{prefix.strip('-')}{os.getpid()}-{int(time.time() * 1000) % 10**7}"
    base = rank_env(world, out, job)
    base.update(env)
    procs = []
    for r in range(world):
        log = open(out / f"rank{r}.log", "w+b")
        e = dict(base, RANK=str(r), LOCAL_RANK=str(r))
        cmd = [sys.executable, *map(str, argv(out))]
        procs.append(
            (subprocess.Popen(cmd, env=e, stdout=log, stderr=subprocess.STDOUT, cwd=str(Path(__file__).parent)), log)
        )
    report = collect_json_ranks(procs, out, timeout)
    _harness._stop_coordinator(out / "run" / job)
    return report
