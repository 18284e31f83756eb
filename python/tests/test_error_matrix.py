"""Errors are data (STYLE rule 7), every code through the Python client (and JAX where it is installed).

Each code of spec/fixtures/errors.json is driven by a real cause across real rank processes and
a real coordinator, and each rank reports the class, code, status number and ranks it got; the
test checks them against the fixture. Codes and ranks reach Python as fields (the slot's status
word and rank list, the `code`/`ranks` of a control `error` reply, the FFI library's error
record), never from message text. EINTERNAL has no real cause on one host, so it is driven
through a test hook: a coordinator started by _error_coord.mjs calls the engine's failRank with
code 7 on a rank that never posts — the completion path every failure takes.

The file is also the rank program: `python test_error_matrix.py SCENARIO` runs one rank (the
environment says which) and prints `RESULT {json}`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIXTURE = json.loads((REPO / "spec" / "fixtures" / "errors.json").read_text())["codes"]
NODE = os.environ.get("ONET_NODE", "node")


def _have_coordinator() -> bool:
    return (REPO / "dist" / "coordinator" / "server.js").exists() and shutil.which(NODE) is not None


def _have_jax() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


needs_coordinator = pytest.mark.skipif(not _have_coordinator(), reason="coordinator not built: run `npm run build`")


# ---------------------------------------------------------------------------------- launching
def run_job(
    world: int,
    scenario: str,
    coord_env: dict | None = None,
    rank_env: dict | None = None,
    hook: bool = False,
    timeout: float = 90,
) -> list[dict | None]:
    """One coordinator (`onet serve`, or _error_coord.mjs with the failRank hook) and `world` ranks."""
    out = Path(tempfile.mkdtemp(prefix="ont-err-", dir="/tmp"))
    job = f"perr{os.getpid()}-{scenario}-{int(time.time() * 1000) % 10**7}"
    base = dict(
        os.environ,
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        ONET_JOB_ID=job,
        ONET_RUN_DIR=str(out / "run"),
        ONET_TIMEOUT="2",
        ONET_AUTOSTART="0",
        ONET_CONNECT_TIMEOUT="30",
        PYTHONPATH=str(REPO / "python"),
        PYTHONWARNINGS="ignore",
        OMP_NUM_THREADS="1",
        ONET_JAX_BUILD_DIR=str(REPO / "build" / "jax-ffi"),
        ERRMX_OUT=str(out),
        XLA_FLAGS="--xla_force_host_platform_device_count=1 --xla_cpu_multi_thread_eigen=false",
    )
    for k in ("TORCHELASTIC_RUN_ID", "ONET_JOB_TOKEN", "MASTER_ADDR", "MASTER_PORT"):
        base.pop(k, None)
    cmd = (
        [NODE, str(HERE / "_error_coord.mjs"), job, str(world)]
        if hook
        else [NODE, str(REPO / "bin" / "onet.js"), "serve", "--job", job, "--world", str(world)]
    )
    coord = subprocess.Popen(
        cmd, env=dict(base, **(coord_env or {})), stdout=open(out / "coord.log", "wb"), stderr=subprocess.STDOUT
    )
    procs = []
    try:
        for r in range(world):
            e = dict(base, RANK=str(r), LOCAL_RANK=str(r), **(rank_env or {}))
            log = open(out / f"rank{r}.log", "w+b")
            procs.append(
                (
                    subprocess.Popen(
                        [sys.executable, __file__, scenario], env=e, stdout=log, stderr=subprocess.STDOUT, cwd=str(HERE)
                    ),
                    log,
                )
            )
        deadline = time.monotonic() + timeout
        results = []
        for p, log in procs:
            try:
                p.wait(max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.seek(0)
            text = log.read().decode(errors="replace")
            lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
            results.append(json.loads(lines[-1][7:]) if lines else {"log": text[-3000:]})
        return results
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
        coord.terminate()
        try:
            coord.wait(10)
        except subprocess.TimeoutExpired:
            coord.kill()
            coord.wait()
        shutil.rmtree(out, ignore_errors=True)


def check(res: dict | None, code: str, ranks) -> None:
    """One rank's report against the fixture: class, code, number, ranks; the message is prose only."""
    assert res is not None and "code" in res, f"rank reported no error: {res}"
    assert res["code"] == code, res
    assert res["type"] == FIXTURE[code]["class"], res
    assert res["status"] == FIXTURE[code]["number"], res
    assert res["onet"], res  # an opennetworks.OnetError
    if callable(ranks):
        assert ranks(res["ranks"]), res
    else:
        assert res["ranks"] == ranks, res
    assert not res["message"].startswith(code + ":"), res


# ---------------------------------------------------------------------------------- the matrix
def test_fixture_matches_the_generated_table_and_the_classes():
    import opennetworks as on
    from opennetworks._gen.errors import CODES

    assert sorted(FIXTURE) == sorted(c for c in CODES if c != "OK")
    for code, want in FIXTURE.items():
        cls = getattr(on, want["class"])
        assert issubclass(cls, on.OnetError) and cls.code == code and cls.status == want["number"]
        assert CODES[code].number == want["number"] and CODES[code].python == want["class"]
        e = cls("a message", [3])
        assert e.ranks == [3] and e.code == code and e.hint


CASES = [
    # (code, world, scenario, ranks that report, expected ranks, extra)
    ("EMISMATCH", 3, "mismatch", (0, 1, 2), [0, 2], {}),
    ("EINVAL", 2, "invalid", (0,), [0], {}),
    # A 16-byte all_reduce is a fast-lane call, failed at the ranks' own ONET_TIMEOUT (5 s); were
    # it an engine call, the coordinator's deadline (2 s) would still pass before the client's.
    ("ETIMEDOUT", 3, "timeout", (0, 1), [2], {"rank_env": {"ONET_TIMEOUT": "5"}}),
    ("EABORTED", 2, "aborted", (0,), [1], {}),
    ("ECLOSED", 2, "closed", (0,), [1], {}),
    ("ENOTSUP", 2, "unsupported", (0, 1), lambda r: len(r) == 1 and r[0] in (0, 1), {}),
    ("EINTERNAL", 2, "internal", (0,), [1], {"hook": True}),
    ("EPROTO", 1, "proto", (0,), [], {}),
    (
        "EACCES",
        1,
        "access",
        (0,),
        [0],
        {"coord_env": {"ONET_JOB_TOKEN": "a" * 64}, "rank_env": {"ONET_JOB_TOKEN": "b" * 64}},
    ),
]


@needs_coordinator
@pytest.mark.parametrize("code,world,scenario,reporters,ranks,extra", CASES, ids=[c[0] for c in CASES])
def test_every_code_reaches_python_as_data(code, world, scenario, reporters, ranks, extra):
    res = run_job(world, scenario, **extra)
    for r in reporters:
        check(res[r], code, ranks)


def test_the_matrix_covers_every_code():
    assert sorted(c[0] for c in CASES) == sorted(FIXTURE)


JAX_CASES = [
    ("EMISMATCH", "jax_mismatch", [0, 1]),
    ("ENOTSUP", "jax_unsupported", lambda r: len(r) == 1 and r[0] in (0, 1)),
]


@needs_coordinator
@pytest.mark.skipif(not _have_jax(), reason="jax is not installed")
@pytest.mark.parametrize("impl", ["ffi", "callback"])
@pytest.mark.parametrize("code,scenario,ranks", JAX_CASES, ids=[c[0] for c in JAX_CASES])
def test_jax_errors_carry_code_and_ranks(code, scenario, ranks, impl):
    res = run_job(2, scenario, rank_env={"ONET_JAX_IMPL": impl}, timeout=180)
    for r in (0, 1):
        check(res[r], code, ranks)


# ---------------------------------------------------------------------------------- rank side
def _wait_for(ranks: tuple[int, ...], limit_s: float = 60) -> None:
    """Stay alive (registered, posting nothing) until those ranks have reported."""
    end = time.monotonic() + limit_s
    out = Path(os.environ["ERRMX_OUT"])
    while time.monotonic() < end and not all((out / f"reported{r}").exists() for r in ranks):
        time.sleep(0.05)


def _report(e: BaseException | None, **extra) -> None:
    import opennetworks as on

    if e is None:
        out = {"ok": True}
    else:
        out = {
            "type": type(e).__name__,
            "onet": isinstance(e, on.OnetError),
            "code": getattr(e, "code", None),
            "status": getattr(e, "status", None),
            "ranks": getattr(e, "ranks", None),
            "message": str(e),
        }
    print("RESULT " + json.dumps({**out, **extra}), flush=True)
    Path(os.environ["ERRMX_OUT"], f"reported{os.environ['RANK']}").touch()


def _rank(scenario: str) -> int:
    import signal

    import numpy as np

    import opennetworks as on

    rank = int(os.environ["RANK"])
    if scenario == "access":
        try:
            on.init()
            _report(None)
        except Exception as e:  # noqa: BLE001 - reported
            _report(e)
        return 0
    if scenario.startswith("jax_"):
        return _jax_rank(scenario)
    comm = on.init()
    x = np.ones(4, np.float32)
    try:
        if scenario == "mismatch":
            comm.all_reduce(np.ones(5 if rank == 2 else 4, np.float32))
        elif scenario == "invalid":
            if rank == 0:
                comm.send(x, dst=0)  # to itself: the engine refuses it, naming this rank
        elif scenario == "timeout":
            comm.barrier()  # in step: ranks 0 and 1 then post within ONET_TIMEOUT of each other
            if rank == 2:
                _wait_for((0, 1))  # alive past ONET_TIMEOUT=2: the others time out naming rank 2
            else:
                comm.all_reduce(x)
        elif scenario == "aborted":
            if rank == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            comm.all_reduce(x)
        elif scenario == "closed":
            if rank == 1:
                time.sleep(0.5)
                comm.client.close()
            else:
                comm.all_reduce(x)
        elif scenario == "unsupported":
            comm.all_reduce(x, op="bxor")
        elif scenario == "internal":
            if rank == 1:
                _wait_for((0,))  # registered, never posts: the hook fails it with code 7
            else:
                comm.all_reduce(x)
        elif scenario == "proto":
            import zmq

            from opennetworks._client import raise_if_error

            s = zmq.Context.instance().socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(comm.client.coordinator.endpoint)
            s.send(json.dumps({"v": 99, "type": "ping", "id": 1}).encode())
            if not s.poll(5000):
                raise RuntimeError("no reply to a v99 ping")
            raise_if_error(json.loads(s.recv()))  # how the client reads every `error` reply
        if (scenario, rank) in (("invalid", 1), ("timeout", 2), ("closed", 1), ("internal", 1)):
            return 0
        _report(None)
    except Exception as e:  # noqa: BLE001 - reported
        _report(e)
    return 0


def _jax_rank(scenario: str) -> int:
    import jax.numpy as jnp

    import opennetworks.jax as onj

    onj.initialize()
    rank = onj.rank()
    try:
        if scenario == "jax_mismatch":
            onj.allreduce(jnp.ones(3 + rank))
        elif scenario == "jax_unsupported":
            onj.allreduce(jnp.ones(3), "bxor")
        _report(None)
    except Exception as e:  # noqa: BLE001 - reported
        _report(e)
    return 0


if __name__ == "__main__":
    sys.exit(_rank(sys.argv[1]))
