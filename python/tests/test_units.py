"""Unit tests that need no coordinator: errors, settings, layout, allocator, futex, dtypes."""

import mmap
import multiprocessing as mp
import os
import pickle
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import opennetworks as on
from opennetworks import _env, _futex
from opennetworks import _layout as L
from opennetworks._arena import Allocator
from opennetworks._errors import error_for_code, error_for_status

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "status,code,cls",
    [
        (1, "EMISMATCH", on.CollectiveMismatchError),
        (2, "EINVAL", on.InvalidArgumentError),
        (3, "ETIMEDOUT", on.TimeoutError),
        (4, "EABORTED", on.AbortedError),
        (5, "ECLOSED", on.ClosedError),
        (6, "ENOTSUP", on.UnsupportedError),
        (7, "EINTERNAL", on.InternalError),
    ],
)
def test_one_exception_class_per_code(status, code, cls):
    e = error_for_status(status, "allreduce #7: count differs: rank 0 has 4097, rank 1 has 4096", [0, 1])
    assert type(e) is cls and e.code == code and isinstance(e, on.OnetError) and isinstance(e, RuntimeError)
    assert e.ranks == [0, 1]
    assert error_for_status(status, "rank 5 names ranks only in its text").ranks == []  # errors are data
    assert type(error_for_code(code, "x", [3])) is cls and error_for_code(code, "x", [3]).ranks == [3]
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is cls and again.ranks == [0, 1] and str(again) == str(e)


def test_unknown_codes_are_internal_errors():
    assert isinstance(error_for_status(99, "?"), on.InternalError)
    assert isinstance(error_for_code("EWHAT", "?"), on.InternalError)
    assert isinstance(error_for_code("EPROTO", "v2"), on.ProtocolError)


def test_error_table_matches_protocol():
    text = PROTOCOL.read_text()
    rows = re.findall(r"^\| (\d+|—) \| (E[A-Z]+) \| `(\w+)` \|", text, re.M)
    assert len(rows) == 9  # 7 engine codes + EPROTO + EACCES (control channel only)
    for num, code, pyname in rows:
        cls = getattr(on, pyname)
        assert cls.code == code
        if num != "—":
            assert cls.status == int(num)


# ---------------------------------------------------------------- settings
def test_job_id_precedence():
    assert _env.job_id({"ONET_JOB_ID": "a", "TORCHELASTIC_RUN_ID": "b"}) == "a"
    assert _env.job_id({"TORCHELASTIC_RUN_ID": "b", "SLURM_JOB_ID": "c"}) == "b"
    assert _env.job_id({"TORCHELASTIC_RUN_ID": "none", "SLURM_JOB_ID": "c"}) == "c"
    assert _env.job_id({"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}) == "10.0.0.1_29500"  # spec/jobid.json
    assert _env.job_id({"MASTER_ADDR": "host:x/y", "MASTER_PORT": "1"}) == "host_x_y_1"
    assert _env.job_id({}) == "default"
    with pytest.raises(on.InvalidArgumentError, match="ONET_JOB_ID"):
        _env.job_id({"ONET_JOB_ID": "bad/id"})


def test_run_dir():
    assert str(_env.run_dir({"ONET_RUN_DIR": "/x"})) == "/x"
    assert str(_env.run_dir({"XDG_RUNTIME_DIR": "/run/user/1"})) == "/run/user/1/onet"
    assert str(_env.run_dir({})) == f"/tmp/onet-{os.getuid()}"
    assert str(_env.job_dir("j", {"ONET_RUN_DIR": "/x"})) == "/x/j"


def test_rank_info():
    i = _env.rank_info(env={"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"})
    assert (i.rank, i.world, i.local_rank, i.local_world) == (3, 8, 1, 4)
    i = _env.rank_info(env={"SLURM_PROCID": "2", "SLURM_NTASKS": "3"})
    assert (i.rank, i.world, i.local_rank, i.local_world) == (2, 3, 2, 3)
    assert _env.rank_info(1, 2, env={}).rank == 1
    with pytest.raises(on.InvalidArgumentError, match="outside world size"):
        _env.rank_info(env={"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(on.InvalidArgumentError, match="not an integer"):
        _env.rank_info(env={"RANK": "x"})


def test_every_setting_has_default_and_meaning():
    for name, (default, meaning) in _env.SETTINGS.items():
        assert name.startswith("ONET_") and isinstance(default, str) and len(meaning) > 10


# ---------------------------------------------------------------- layout
# The layout and enum checks (against docs/protocol.md and the shared fixtures) live in
# test_contract_enums.py, next to their TypeScript twin test/contract_enums.test.ts.


# ---------------------------------------------------------------- allocator
def test_allocator_frees_later_at_the_next_alloc():
    """Finalizers of arena tensors free through free_later: no lock, merged at the next alloc."""
    a = Allocator(1024)
    x, y = a.alloc(512), a.alloc(512)
    assert a.alloc(64) is None
    a.free_later(x)
    assert a.in_use == 1024  # not yet: nothing may touch the free lists outside the engine lock
    assert a.alloc(512) == x
    a.free_later(x)
    a.free_later(y)
    assert a.alloc(1024) == 0 and a.in_use == 1024


def test_bench_sizes_counts_and_busbw():
    from opennetworks.bench import _metrics as M

    assert M.parse_sizes("8,64KiB,1MiB") == [8, 65536, 1 << 20]
    with pytest.raises(ValueError, match="not a byte size"):
        M.parse_sizes("8,lots")
    with pytest.raises(ValueError, match="choose from all_reduce"):
        M.parse_ops("allfoo")
    assert M.counts("all_gather", 1 << 20, 4) == ((1 << 18) // 4, 1 << 18)
    assert M.counts("reduce_scatter", 1 << 20, 4) == (1 << 18, (1 << 18) // 4)
    assert M.counts("all_gather", 8, 4) == (1, 4)  # at least one element per rank
    assert M.bus_factor("all_reduce", 4) == 1.5 and M.bus_factor("all_gather", 4) == 0.75
    assert M.bus_factor("broadcast", 4) == 1.0 and M.bus_factor("reduce_scatter", 2) == 0.5
    assert M.iterations(8) == 1000 and M.iterations(64 << 20) == 4
    assert M.warmup(1 << 20, True) > M.warmup(1 << 20, False) >= 2


def test_allocator_aligns_merges_and_reports_full():
    a = Allocator(1024)
    x, y, z = a.alloc(1), a.alloc(100), a.alloc(64)
    assert (x, y, z) == (0, 64, 192) and all(o % 64 == 0 for o in (x, y, z))
    assert a.alloc(2048) is None
    a.free(y)
    assert a.alloc(128) == 64
    a.free(x), a.free(64), a.free(z)
    assert a.in_use == 0 and a.largest_free() == 1024


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 300)), max_size=60))
def test_allocator_never_overlaps(ops):
    a = Allocator(4096)
    live = {}
    for is_alloc, n in ops:
        if is_alloc or not live:
            off = a.alloc(n)
            if off is None:
                continue
            end = off + max(64, (n + 63) // 64 * 64)
            assert end <= 4096 and off % 64 == 0
            assert all(end <= s or off >= e for s, e in live.values())
            live[off] = (off, end)
        else:
            k = next(iter(live))
            live.pop(k)
            a.free(k)
    for off in list(live):
        a.free(off)
    assert a.largest_free() == 4096


# ---------------------------------------------------------------- futex
def _futex_child(name, q):
    fd = os.open(name, os.O_RDWR)
    mm = mmap.mmap(fd, 4096)
    addr = _futex.address_of(mm, 64)
    q.put("ready")
    t0 = time.monotonic()
    while struct.unpack_from("<I", mm, 64)[0] == 0:
        _futex.wait(addr, 0, 5.0)
    q.put(time.monotonic() - t0)


def test_futex_wakes_another_process():
    name = f"/dev/shm/onet-test-futex-{os.getpid()}"
    fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, 4096)
        mm = mmap.mmap(fd, 4096)
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=_futex_child, args=(name, q))
        p.start()
        assert q.get(timeout=10) == "ready"
        time.sleep(0.2)
        struct.pack_into("<I", mm, 64, 1)
        _futex.wake(_futex.address_of(mm, 64))
        assert q.get(timeout=10) < 4.0
        p.join(5)
    finally:
        os.close(fd)
        os.unlink(name)


def test_futex_wait_times_out_and_detects_changed_value():
    mm = mmap.mmap(-1, 4096)
    addr = _futex.address_of(mm, 0)
    t0 = time.monotonic()
    import errno

    assert _futex.wait(addr, 0, 0.05) == errno.ETIMEDOUT
    assert 0.04 < time.monotonic() - t0 < 1.0
    assert _futex.wait(addr, 1, 1.0) == errno.EAGAIN  # value is 0, not 1: returns at once


# ---------------------------------------------------------------- torch glue
def test_dtype_and_op_maps():
    import torch
    import torch.distributed as dist

    from opennetworks.torch._dtypes import dtype_code, redop_code

    assert dtype_code(torch.bfloat16) == (3, 1) and dtype_code(torch.bool) == (5, 1)
    assert dtype_code(torch.complex64) == (0, 2)
    with pytest.raises(on.UnsupportedError, match="int16"):
        dtype_code(torch.int16)
    assert redop_code(dist.ReduceOp.SUM, torch.float32) == (0, 1.0)
    assert redop_code(dist.ReduceOp.AVG, torch.float32) == (4, 1.0)
    assert redop_code(dist._make_nccl_premul_sum(2.5), torch.float32) == (8, 2.5)
    assert redop_code(dist.ReduceOp.SUM, torch.bool)[0] == L.REDOPS["max"]  # or
    assert redop_code(dist.ReduceOp.PRODUCT, torch.bool)[0] == L.REDOPS["min"]  # and
    with pytest.raises(on.UnsupportedError):
        redop_code(dist.ReduceOp.AVG, torch.bool)


def test_backend_registers_through_torch_entry_point():
    code = "import torch.distributed as d; print('opennetworks' in d.Backend.backend_list)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_coordinator_command_prefers_env(monkeypatch):
    from opennetworks._client import coordinator_command

    monkeypatch.setenv("ONET_COORDINATOR", "/opt/onet")
    assert coordinator_command("j", 4)[:2] == ["/opt/onet", "serve"]
    monkeypatch.delenv("ONET_COORDINATOR")
    cmd = coordinator_command("j", 4)
    assert cmd[1].endswith("bin/onet.js") and cmd[2:] == ["serve", "--job", "j", "--world", "4", "--exit-when-idle"]


# ---------------------------------------------------------------- finding the coordinator
def _register_in_subprocess(env_extra, tmp_path):
    code = (
        "import opennetworks as on\n"
        "try:\n"
        "    on.init(rank=0, world=1)\n"
        "    print('REGISTERED')\n"
        "except on.OnetError as e:\n"
        "    print(type(e).__name__, '|', e)\n"
    )
    env = dict(os.environ, ONET_RUN_DIR=str(tmp_path / "run"), ONET_JOB_ID="unit", **env_extra)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60).stdout


def test_coordinator_that_fails_to_start_is_reported(tmp_path):
    out = _register_in_subprocess({"ONET_COORDINATOR": "/bin/false"}, tmp_path)
    assert out.startswith("AbortedError") and "exited with status 1" in out, out


def test_no_coordinator_times_out_with_advice(tmp_path):
    t0 = time.monotonic()
    out = _register_in_subprocess({"ONET_AUTOSTART": "0", "ONET_CONNECT_TIMEOUT": "1"}, tmp_path)
    assert out.startswith("TimeoutError") and "onet serve" in out and "ONET_CONNECT_TIMEOUT" in out, out
    assert time.monotonic() - t0 < 30


def test_bytes_setting_units(monkeypatch):
    for raw, want in [
        ("2097152", 2 << 20),
        ("2MiB", 2 << 20),
        ("64M", 64 << 20),
        ("512KiB", 512 << 10),
        ("1G", 1 << 30),
    ]:
        monkeypatch.setenv("ONET_PIPELINE_BYTES", raw)
        assert _env.bytes_setting("ONET_PIPELINE_BYTES", 1) == want
    monkeypatch.setenv("ONET_PIPELINE_BYTES", "lots")
    with pytest.raises(on.InvalidArgumentError, match="not a byte size"):
        _env.bytes_setting("ONET_PIPELINE_BYTES", 1)


def test_slurm_tasks_per_node_sets_local_world():
    info = _env.rank_info(
        env={"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4(x2)"}
    )
    assert (info.rank, info.world, info.local_rank, info.local_world) == (5, 8, 1, 4)
