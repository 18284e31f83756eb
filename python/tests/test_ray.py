"""Ray: ray.util.collective on backend "opennetworks" and Ray Train's TorchTrainer on the torch
backend, on a real local Ray cluster (`ray start --head`), each against gloo on the same inputs.

Both examples run at once against one cluster (Ray's start-up dominates on a small machine):
examples/ray/collective.py (two actors, every collective, torch tensors and numpy arrays, on
opennetworks and on Ray's gloo group) and examples/ray/train.py --twin gloo (one TorchTrainer run
whose workers also train an identical model with DDP over a gloo group on the same batches).
A second Ray node (own run directory, so its own coordinator) carries one rank of a two-rank group:
the coordinators then meet over TCP at rank 0's bootstrap address, as across hosts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'opennetworks[ray]')")
torch = pytest.importorskip("torch", reason="torch is not installed")

pytestmark = pytest.mark.needs_coordinator

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
TIMEOUT = 300  # seconds per example; the whole file usually takes well under a minute


# Two ranks on two Ray nodes (rank 0 on the head, resource "onet_node1"; rank 1 on the node with
# "onet_node2"): each alone on its node,
# so the coordinators meet over TCP at rank 0's bootstrap address, as across real hosts.
MULTINODE = """
import json, sys
import numpy as np, ray, ray.util.collective as col, torch
ray.init(address=sys.argv[-1], log_to_driver=False,
         runtime_env={"worker_process_setup_hook": "opennetworks.ray.register"})
@ray.remote(num_cpus=0)
class W:
    def go(self, r):
        col.init_collective_group(2, r, backend="opennetworks", group_name="multinode")
        g = col.get_group_handle("multinode")
        a = torch.arange(4097, dtype=torch.float32) * (r + 1)
        col.allreduce(a, group_name="multinode")
        parts = [np.zeros(3, np.int64) for _ in range(2)]
        col.allgather(parts, np.full(3, r + 7, np.int64), group_name="multinode")
        node = ray.get_runtime_context().get_node_id()
        return [g._client.info.local_world, node, a.tolist(), [p.tolist() for p in parts]]
ws = [W.options(resources={"onet_node1": 1}).remote(), W.options(resources={"onet_node2": 1}).remote()]
print("RESULT " + json.dumps(ray.get([w.go.remote(r) for r, w in enumerate(ws)], timeout=240)))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(roots: set[int]) -> set[int]:
    """Every live process below ``roots`` (Ray's workers leave the head's process group)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier and p not in found}
        found |= frontier
    return found


def _group(pgid: int) -> set[int]:
    pids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid:
                    pids.add(int(d.name))
            except OSError:
                pass
    return pids


def _kill(pids: set[int], sig: int) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


@pytest.fixture(scope="module")
def cluster():
    """A Ray head on this machine, started by `ray start --head` in its own process group; torn
    down by killing exactly the processes it started (never `ray stop`, which stops every Ray)."""
    tmp = Path(tempfile.mkdtemp(prefix="onr", dir="/tmp"))  # short: Ray's socket paths have a limit
    port = _free_port()
    env = dict(
        os.environ,
        RAY_USAGE_STATS_ENABLED="0",
        OMP_NUM_THREADS="1",
        PYTHONWARNINGS="ignore",
        ONET_RUN_DIR=str(tmp / "run"),
        RAY_TRAIN_HEALTH_CHECK_INTERVAL_S="0.5",
    )
    cmd = [RAY, "start", "--head", "--port", str(port), "--num-cpus", "2", "--temp-dir", str(tmp / "ray")]
    cmd += ["--include-dashboard", "false", "--disable-usage-stats"]
    cmd += ["--resources", '{"onet_node1": 2}']  # pins rank 0 of the two-node run here (num_cpus=0 fits anywhere)
    # Two raylets on one machine both hand out worker ports from Ray's default 10002-19999, so both
    # give 10002 to their first worker and one of them dies with "Failed to start the grpc server"
    # (seen in CI): each node gets its own range, below the kernel's ephemeral ports (32768+).
    cmd += ["--min-worker-port", "21000", "--max-worker-port", "21999"]
    head = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = head.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        head.kill()
        out, _ = head.communicate()
    node2 = None
    try:
        if head.returncode != 0:
            pytest.fail(f"`ray start --head` failed (rc {head.returncode}):\n{out.decode(errors='replace')[-3000:]}")
        # A second Ray node on this machine, with its own run directory (so its own coordinator): only
        # actors that ask for the resource "onet_node2" go there.
        cmd2 = [RAY, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "0", "--disable-usage-stats"]
        cmd2 += ["--resources", '{"onet_node2": 2}', "--min-worker-port", "22000", "--max-worker-port", "22999"]
        env2 = dict(env, ONET_RUN_DIR=str(tmp / "run2"))
        node2 = subprocess.Popen(
            cmd2, env=env2, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            out2, _ = node2.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            node2.kill()
            out2, _ = node2.communicate()
        if node2.returncode != 0:
            pytest.fail(
                f"`ray start --address` failed (rc {node2.returncode}):\n{out2.decode(errors='replace')[-3000:]}"
            )
        yield {"address": f"127.0.0.1:{port}", "env": env, "tmp": tmp}
    finally:
        pids = _descendants(_group(head.pid) | (_group(node2.pid) if node2 else set()))
        _kill(pids, signal.SIGTERM)
        end = time.monotonic() + 3  # gcs_server and raylet may ignore SIGTERM
        while time.monotonic() < end and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.1)
        _kill(pids, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def runs(cluster):
    """Start both examples at once; each test waits for its own."""
    tmp, env = cluster["tmp"], cluster["env"]
    procs = {}
    for name, args in {
        "collective": ["collective.py", "--out", str(tmp / "collective.npz")],
        "train": ["train.py", "--twin", "gloo", "--out", str(tmp / "train.pt")],
        "multinode": ["-c", MULTINODE],
    }.items():
        script = args[0] if args[0] == "-c" else str(REPO / "examples" / "ray" / args[0])
        cmd = [sys.executable, script, *args[1:], "--address", cluster["address"]]
        procs[name] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(REPO))
    yield procs
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()


def _finish(p: subprocess.Popen, what: str) -> str:
    try:
        out, _ = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        pytest.fail(f"{what} did not finish within {TIMEOUT} s:\n{out.decode(errors='replace')[-4000:]}")
    text = out.decode(errors="replace")
    assert p.returncode == 0, f"{what} failed (rc {p.returncode}):\n{text[-4000:]}"
    return text


def test_backend_registers_on_import():
    import ray.util.collective as col

    import opennetworks.ray

    opennetworks.ray.register()  # idempotent
    assert col.is_backend_available("opennetworks")
    assert opennetworks.ray.OnetGroup.backend() == "OPENNETWORKS"


def test_collective_equals_gloo_and_reference(runs, cluster):
    text = _finish(runs["collective"], "examples/ray/collective.py")
    assert "equal to gloo" in text, text[-2000:]
    got = np.load(cluster["tmp"] / "collective.npz")
    onet = {k.split("/", 1)[1]: v for k, v in got.items() if k.startswith("opennetworks/")}
    gloo = {k.split("/", 1)[1]: v for k, v in got.items() if k.startswith("gloo/")}
    assert onet.keys() == gloo.keys() and len(onet) == 2 * 27
    for k in onet:  # the example checked this too; a test that trusts nobody
        assert onet[k].dtype == gloo[k].dtype and np.array_equal(onet[k], gloo[k]), k
    n = 4097
    ar = np.arange(n, dtype=np.float32)
    for r in range(2):
        np.testing.assert_array_equal(onet[f"{r}/allreduce_sum_f32_{n}"], (ar + 0.25) + (ar * 2 + 0.25))
        np.testing.assert_array_equal(onet[f"{r}/allgather_i32_{n}"], np.stack([np.full(n, 1), np.full(n, 11)]))
        np.testing.assert_array_equal(onet[f"{r}/broadcast_f32_{n}"], ar + 1)
        np.testing.assert_array_equal(onet[f"{r}/sendrecv_f32_{n}"], ar * 3)
        np.testing.assert_array_equal(onet[f"{r}/reducescatter_f32_{n}"], 2 * (ar + 100 * r) + 1)
        np.testing.assert_array_equal(onet[f"{r}/allreduce_max_i64_{n}"], np.arange(n) % 7)
    np.testing.assert_array_equal(onet[f"0/reduce_min_f64_{n}"], np.arange(n, dtype=np.float64))
    np.testing.assert_array_equal(onet[f"1/reduce_min_f64_{n}"], np.arange(n, dtype=np.float64) + 1)  # untouched
    assert onet["0/allreduce_sum_f32_0"].size == 0


def test_train_equals_gloo(runs, cluster):
    _finish(runs["train"], "examples/ray/train.py")
    saved = torch.load(cluster["tmp"] / "train.pt", weights_only=False)
    assert (saved["backend"], saved["twin"], saved["world"]) == ("opennetworks", "gloo", 2)
    assert saved["params"].keys() == saved["twin_params"].keys()
    for k, v in saved["params"].items():
        assert torch.equal(v, saved["twin_params"][k]), f"{k} differs from the gloo twin"
    torch.manual_seed(0)  # the example's initial model
    init = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    assert not torch.equal(saved["params"]["0.weight"], init.state_dict()["0.weight"])  # it trained


def test_collective_across_two_ray_nodes(runs):
    text = _finish(runs["multinode"], "the two-node ray.util.collective run")
    got = json.loads(next(line for line in text.splitlines() if line.startswith("RESULT "))[7:])
    (lw0, node0, a0, g0), (lw1, node1, a1, g1) = got
    assert node0 != node1 and lw0 == lw1 == 1, "each rank alone on its Ray node"
    want = (np.arange(4097, dtype=np.float32) * 3).tolist()
    assert a0 == a1 == want
    assert g0 == g1 == [[7, 7, 7], [8, 8, 8]]
