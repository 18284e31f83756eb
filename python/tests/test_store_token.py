"""The job token agreed through the torch Store (docs/protocol.md §8, ONET_STORE_TOKEN).

Without ONET_JOB_TOKEN, global rank 0 of a torch job draws a token and shares it through the
store; every rank exports it, so the coordinator a rank starts demands proofs and a stranger
without it is refused (EACCES). ONET_STORE_TOKEN=0 keeps the old, token-less behaviour; a token
the user or `onet run` exported is used as is. The exchange itself is tested over real torch
stores (HashStore, FileStore) in this process.
"""

import os
import re
import threading
import time

import pytest
import torch
import torch.distributed as dist

import _harness
from opennetworks import _errors
from opennetworks.torch import _store_token as st

NO_TOKEN = {"ONET_JOB_TOKEN": "", "ONET_STORE_TOKEN": ""}


def _texts(run):
    """Every log the job wrote: the ranks' output and the coordinator's log."""
    logs = list(run.logs)
    for f in (run.run_dir / "run").rglob("*.log"):
        logs.append(f.read_text(errors="replace"))
    return logs


def _check_job(run, P):
    assert all(r is not None for r in run.results), run.describe()
    for r in run.results:
        assert torch.equal(r["sum"], torch.full((3,), float(sum(range(P)))))
        assert torch.equal(r["sub"], torch.full((2,), float(P)))


# ---------------------------------------------------------------- real jobs
@pytest.mark.needs_coordinator
@pytest.mark.parametrize("P", [2, 3])
def test_torch_job_without_a_token_gets_one_through_the_store(P):
    reinit = P == 3  # the 3-rank job also destroys and re-inits its process group
    run = _harness.run_ranks(P, "store_token", env=NO_TOKEN, args=("1",) if reinit else ())
    _check_job(run, P)
    token = run.results[0]["token"]
    assert token and re.fullmatch(r"[0-9a-f]{64}", token), run.describe()
    assert [r["token"] for r in run.results] == [token] * P
    assert all(r["security"]["tokenRequired"] is True for r in run.results)
    stranger, wrong = run.results[0]["stranger"], run.results[0]["wrong"]
    assert stranger["type"] == "AccessDeniedError" and stranger["code"] == "EACCES", stranger
    assert "no proof of the job token" in stranger["message"]
    assert wrong["code"] == "EACCES" and "HMAC does not match" in wrong["message"], wrong
    for text in _texts(run) + [stranger["message"], wrong["message"]]:
        assert token not in text
    if reinit:
        for r in run.results:
            assert r["reinit"]["token"] == token
            assert torch.equal(r["reinit"]["sum"], torch.full((2,), float(P)))


@pytest.mark.needs_coordinator
def test_store_token_off_keeps_the_old_behaviour():
    run = _harness.run_ranks(2, "store_token", env={**NO_TOKEN, "ONET_STORE_TOKEN": "0"})
    _check_job(run, 2)
    assert not any(r["token"] for r in run.results)
    assert all(r["security"]["tokenRequired"] is False for r in run.results)
    # No token: the stranger gets past authentication and is stopped only because rank 0 is taken.
    stranger = run.results[0]["stranger"]
    assert stranger["code"] == "EINVAL" and "already registered" in stranger["message"], stranger


@pytest.mark.needs_coordinator
def test_an_exported_token_is_used_as_is():
    given = "given-" + os.urandom(16).hex()
    run = _harness.run_ranks(2, "store_token", env={"ONET_JOB_TOKEN": given, "ONET_STORE_TOKEN": ""})
    _check_job(run, 2)
    assert [r["token"] for r in run.results] == [given, given]
    assert all(r["security"]["tokenRequired"] is True for r in run.results)
    assert run.results[0]["stranger"]["code"] == "EACCES"


# ---------------------------------------------------------------- the exchange over real stores
def _file_store(tmp_path, world):
    return dist.PrefixStore("0/", dist.FileStore(str(tmp_path / "store"), world))


@pytest.mark.parametrize("P", [1, 2, 3, 5])
def test_exchange_gives_every_rank_rank_0s_token_and_clears_the_key(tmp_path, P):
    store = _file_store(tmp_path, P)
    token = st.exchange(store, 0, P, "j", 5)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert store.check([st.key("j")]) == (P > 1)  # alone, rank 0 keeps it out of the store
    assert [st.exchange(store, r, P, "j", 5) for r in range(1, P)] == [token] * (P - 1)
    assert not store.check([st.key("j")])  # the last reader deleted it
    # A re-init on the same store: rank 0 republishes its token, the readers count on.
    assert st.exchange(store, 0, P, "j", 5, mine=token) == token
    assert [st.exchange(store, r, P, "j", 5) for r in range(1, P)] == [token] * (P - 1)
    assert not store.check([st.key("j")])


def test_a_reader_waits_for_a_late_rank_0():
    store = dist.HashStore()
    got = []
    reader = threading.Thread(target=lambda: got.append(st.exchange(store, 1, 2, "j", 10)))
    reader.start()
    time.sleep(0.3)
    token = st.exchange(store, 0, 2, "j", 10)
    reader.join(15)
    assert got == [token]


def test_a_reader_times_out_naming_the_store_and_what_to_do(tmp_path):
    store = _file_store(tmp_path, 2)
    with pytest.raises(_errors.TimeoutError) as e:
        st.exchange(store, 1, 2, "job7", 0.3)
    msg = str(e.value)
    assert "FileStore " + str(tmp_path / "store") in msg and "onet/job_token/job7" in msg
    assert "ONET_STORE_TOKEN=0" in msg and "ONET_CONNECT_TIMEOUT" in msg and e.value.ranks == [1]


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("ONET_JOB_TOKEN", raising=False)
    monkeypatch.delenv("ONET_STORE_TOKEN", raising=False)
    monkeypatch.setattr(st, "_from_store", None)
    return monkeypatch


def test_ensure_exports_the_token_and_reuses_it_on_reinit(clean_env):
    store = dist.HashStore()
    assert st.ensure(store, 0, 2, "j") is True
    token = os.environ["ONET_JOB_TOKEN"]
    assert st.exchange(store, 1, 2, "j", 5) == token
    assert st.ensure(dist.HashStore(), 0, 2, "j") is True  # re-init: a fresh store, the same token
    assert os.environ["ONET_JOB_TOKEN"] == token


def test_ensure_leaves_an_exported_token_and_the_off_switch_alone(clean_env):
    store = dist.HashStore()
    clean_env.setenv("ONET_JOB_TOKEN", "from-onet-run")
    assert st.ensure(store, 0, 2, "j") is False and os.environ["ONET_JOB_TOKEN"] == "from-onet-run"
    clean_env.delenv("ONET_JOB_TOKEN")
    clean_env.setenv("ONET_STORE_TOKEN", "0")
    assert st.ensure(store, 0, 2, "j") is False and "ONET_JOB_TOKEN" not in os.environ
    assert store.num_keys() == 0
    clean_env.setenv("ONET_STORE_TOKEN", "maybe")
    with pytest.raises(_errors.InvalidArgumentError, match="ONET_STORE_TOKEN='maybe'"):
        st.ensure(store, 0, 2, "j")


def test_a_refusal_explains_the_store_token_without_showing_it(clean_env):
    assert st.ensure(dist.HashStore(), 0, 1, "j") is True
    token = os.environ["ONET_JOB_TOKEN"]
    e = st.explain_refusal(_errors.AccessDeniedError("coordinator of job j refused rank 0", [0]), "j")
    assert isinstance(e, _errors.AccessDeniedError) and "ONET_STORE_TOKEN=0" in str(e) and token not in str(e)
    other = _errors.TimeoutError("late", [1])
    assert st.explain_refusal(other, "j") is other


@pytest.mark.needs_coordinator
def test_a_coordinator_with_another_token_refuses_and_says_why(tmp_path):
    """`onet serve` started by hand with its own ONET_JOB_TOKEN; the ranks have none, so they use a
    store token, which that coordinator refuses: the error says where the ranks' token came from."""
    import subprocess

    other = "other-" + os.urandom(16).hex()
    job, run_dir = f"stok{os.getpid()}", str(tmp_path / "run")
    env = {**os.environ, "ONET_RUN_DIR": run_dir, "ONET_JOB_ID": job, "ONET_JOB_TOKEN": other}
    node = os.environ.get("ONET_NODE", "node")
    proc = subprocess.Popen(
        [node, str(_harness.REPO / "bin" / "onet.js"), "serve", "--job", job, "--world", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "listening" not in (proc.stdout.readline() or ""):
            pass
        run = _harness.run_ranks(
            2,
            "smoke",
            timeout=120,
            env={
                **NO_TOKEN,
                "ONET_RUN_DIR": run_dir,
                "ONET_JOB_ID": job,
                "ONET_AUTOSTART": "0",
                "ONET_CONNECT_TIMEOUT": "10",
            },
        )
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert run.results == [None, None] and all(rc != 0 for rc in run.returncodes), run.describe()
    for log in run.logs:
        assert "AccessDeniedError" in log and "shared through the torch store (ONET_STORE_TOKEN=1)" in log, log[-3000:]
        assert other not in log
    assert "refused rank" in out and other not in out


@pytest.mark.needs_coordinator
def test_a_winding_down_coordinator_with_an_old_token_is_outwaited(tmp_path):
    """An earlier job with the same job id (same MASTER_ADDR:MASTER_PORT) left a coordinator that
    holds its store token and is about to exit: the new job's ranks are refused once, wait for it
    to go, and start their own. Here `onet serve` with another token stands in for it and exits
    as soon as it has refused a rank."""
    import subprocess

    other = "old-" + os.urandom(16).hex()
    job, run_dir = f"stokb{os.getpid()}", str(tmp_path / "run")
    env = {**os.environ, "ONET_RUN_DIR": run_dir, "ONET_JOB_ID": job, "ONET_JOB_TOKEN": other}
    node = os.environ.get("ONET_NODE", "node")
    proc = subprocess.Popen(
        [node, str(_harness.REPO / "bin" / "onet.js"), "serve", "--job", job, "--world", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []

    def watch():
        for line in proc.stdout:
            seen.append(line)
            if "refused rank" in line:
                proc.terminate()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "listening" not in (proc.stdout.readline() or ""):
        pass
    threading.Thread(target=watch, daemon=True).start()
    try:
        run = _harness.run_ranks(2, "smoke", timeout=120, env={**NO_TOKEN, "ONET_RUN_DIR": run_dir, "ONET_JOB_ID": job})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert any("refused rank" in line for line in seen), "".join(seen)[-2000:]
    assert all(r is not None for r in run.results), run.describe()
    for r in run.results:
        assert torch.equal(r["sum"], torch.arange(5, dtype=torch.float32) * 3)
