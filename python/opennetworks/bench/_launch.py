"""Start the ranks of one benchmark run (torch ranks as torchrun would, MPI ranks with mpirun)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_PKG_PARENT = str(Path(__file__).resolve().parents[2])
_counter = itertools.count()


class RunError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(extra: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")  # the same for every backend: ranks share the cores
    env.pop("TORCHELASTIC_RUN_ID", None)
    env.update(extra)
    return env


def _wait_all(procs, deadline) -> list[int]:
    rcs = []
    for p in procs:
        try:
            rcs.append(p.wait(max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            rcs.append(p.wait())
    return rcs


def _read_rows(out: Path, logs: list[Path], rcs: list[int], what: str) -> list[dict]:
    if all(rc == 0 for rc in rcs) and out.exists():
        return json.loads(out.read_text())
    tails = "\n".join(
        f"--- {p.name} (exit {rc}) ---\n{p.read_text(errors='replace')[-3000:]}" for p, rc in zip(logs, rcs)
    )
    raise RunError(f"{what} failed (exit codes {rcs}):\n{tails}")


def run_torch(backend: str, n: int, rank_args: list[str], arena_bytes: int, timeout_s: float) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="onet-bench-"))
    job = f"bench-{os.getpid()}-{next(_counter)}"
    out = tmp / "rows.json"
    env = _env(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
            "WORLD_SIZE": str(n),
            "LOCAL_WORLD_SIZE": str(n),
            "ONET_JOB_ID": job,
            "ONET_RUN_DIR": str(tmp / "run"),
        }
    )
    env.setdefault("ONET_ARENA_BYTES", str(arena_bytes))
    procs, logs = [], []
    try:
        for r in range(n):
            log = tmp / f"rank{r}.log"
            logs.append(log)
            with open(log, "wb") as f:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "opennetworks.bench._torch_rank",
                            "--backend",
                            backend,
                            "--out",
                            str(out),
                            *rank_args,
                        ],
                        env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
                        stdout=f,
                        stderr=subprocess.STDOUT,
                    )
                )
        rcs = _wait_all(procs, time.monotonic() + timeout_s)
        return _read_rows(out, logs, rcs, f"{backend} at n={n}")
    finally:
        _stop_coordinator(tmp / "run" / job)
        shutil.rmtree(tmp, ignore_errors=True)


def mpi_status() -> tuple[bool, str]:
    """Whether the MPI column can run: mpirun on PATH and mpi4py importable."""
    if shutil.which("mpirun") is None:
        return False, "mpirun not on PATH (apt-get install openmpi-bin)"
    if importlib.util.find_spec("mpi4py") is None:
        return False, "mpi4py not installed (pip install mpi4py)"
    return True, ""


# MPI's shared-memory path, named rather than left to OpenMPI's choice (which may pick UCX or
# TCP): the ob1 PML over the vader BTL, whose large messages go through cross-memory attach.
MPI_ENV = {"OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "self,vader"}
MPI_TRANSPORT = "OpenMPI ob1/vader (shared memory), mpi4py on numpy float32 buffers"


def run_mpi(n: int, rank_args: list[str], timeout_s: float) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="onet-bench-mpi-"))
    out, log = tmp / "rows.json", tmp / "mpirun.log"
    try:
        with open(log, "wb") as f:
            p = subprocess.Popen(
                [
                    "mpirun",
                    "--oversubscribe",
                    "--allow-run-as-root",
                    "-n",
                    str(n),
                    sys.executable,
                    "-m",
                    "opennetworks.bench._mpi_rank",
                    "--out",
                    str(out),
                    *rank_args,
                ],
                env=_env({k: os.environ.get(k, v) for k, v in MPI_ENV.items()}),
                stdout=f,
                stderr=subprocess.STDOUT,
            )
            rcs = _wait_all([p], time.monotonic() + timeout_s)
        return _read_rows(out, [log], rcs, f"mpi at n={n}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stop_coordinator(job_dir: Path) -> None:
    """The coordinator exits when its ranks leave; make sure of it so nothing is left behind."""
    pid_file = job_dir / "coord.pid"
    end = time.monotonic() + 5
    while pid_file.exists() and time.monotonic() < end:
        time.sleep(0.05)
    try:
        os.kill(int(pid_file.read_text()), 15)
    except (OSError, ValueError):
        pass
