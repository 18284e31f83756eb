"""Launch N real rank processes (plus, for references, the same under gloo) and collect results.

Each rank runs tests/_worker.py with torchrun-style variables and a job id unique to the run;
ranks write their results with torch.save to <out>/rank<r>.pt.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORKER = HERE / "_worker.py"
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def coordinator_available() -> tuple[bool, str]:
    """Whether `onet serve` can run here (built CLI and addon, node on PATH)."""
    if os.environ.get("ONET_COORDINATOR"):
        return True, ""
    if not (REPO / "dist" / "cli" / "main.js").exists():
        return False, "coordinator not built (dist/cli/main.js missing): run `npm run build`"
    if shutil.which(os.environ.get("ONET_NODE", "node")) is None:
        return False, "node not found on PATH (set ONET_NODE)"
    return True, ""


class RunResult:
    def __init__(self, results, returncodes, logs, run_dir):
        self.results = results
        self.returncodes = returncodes
        self.logs = logs
        self.run_dir = run_dir

    def describe(self) -> str:
        return "\n".join(
            f"--- rank {r} (rc {rc}) ---\n{log[-4000:]}" for r, (rc, log) in enumerate(zip(self.returncodes, self.logs))
        )


def run_ranks(
    world: int,
    scenario: str,
    backend: str = "opennetworks",
    timeout: float = 240,
    env: dict | None = None,
    args: tuple = (),
) -> RunResult:
    out = Path(tempfile.mkdtemp(prefix="ont-", dir="/tmp"))
    job = f"t{os.getpid()}-{next(_counter)}-{int(time.time() * 1000) % 100000}"
    port = free_port()
    base = dict(os.environ)
    base.update(
        {
            "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "ONET_JOB_ID": job,
            "ONET_RUN_DIR": str(out / "run"),
            "OMP_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore",
            "TORCH_DEVICE_BACKEND_AUTOLOAD": "1",
        }
    )
    base.pop("TORCHELASTIC_RUN_ID", None)
    base.update(env or {})
    procs, logs = [], []
    for r in range(world):
        e = dict(base, RANK=str(r), LOCAL_RANK=str(r))
        log = open(out / f"rank{r}.log", "w+b")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), scenario, backend, str(out), *map(str, args)],
                env=e,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(HERE),
            )
        )
    deadline = time.monotonic() + timeout
    rcs = []
    for p in procs:
        try:
            rcs.append(p.wait(max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            p.kill()
            rcs.append(p.wait())
    texts = []
    for log in logs:
        log.seek(0)
        texts.append(log.read().decode(errors="replace"))
        log.close()
    results = []
    for r in range(world):
        f = out / f"rank{r}.pt"
        results.append(torch.load(f, weights_only=False) if f.exists() else None)
    _stop_coordinator(out / "run" / job)
    return RunResult(results, rcs, texts, out)


def _stop_coordinator(job_dir: Path) -> None:
    """The coordinator exits when idle; make sure of it so tests leave nothing behind."""
    pid_file = job_dir / "coord.pid"
    end = time.monotonic() + 5
    while pid_file.exists() and time.monotonic() < end:
        time.sleep(0.05)
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 15)
    except (OSError, ValueError):
        pass
