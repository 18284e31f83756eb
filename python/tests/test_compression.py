"""Compression inside the collective for torch ranks (docs/compression.md): two "hosts" on loopback
addresses (own ONET_IFNAME, run directory and coordinator each), torch.distributed with the opennetworks
backend and ONET_COMPRESSION set job-wide, then per call (opennetworks.torch.compression), per group
(set_compression) and through the DDP comm hook (compression_hook). Every rank must end with identical
bytes, f32 within the bounds of docs/compression.md, lossless codecs bit-identical to off, other dtypes
unchanged by a lossy setting (they fall back to off), and error feedback's residual carried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from _harness import REPO, coordinator_available, free_port

pytestmark = pytest.mark.needs_coordinator

SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, torch, torch.distributed as dist
    import opennetworks.torch  # noqa: F401  registers the backend
    dist.init_process_group("opennetworks")
    r, w = dist.get_rank(), dist.get_world_size()
    out = {}
    for n in (1, 4097, 1 << 20):
        g = torch.Generator().manual_seed(n)
        xs = [(torch.rand(n, generator=g) - 0.5) * 0.01 for _ in range(w)]
        exact = torch.stack([x.double() for x in xs]).sum(0)
        y = xs[r].clone()
        dist.all_reduce(y)
        err = float((y.double() - exact).abs().max() / exact.abs().max())
        out[f"f32 {n}"] = [hashlib.sha1(y.numpy().tobytes()).hexdigest(), err]
        k = torch.arange(n, dtype=torch.int64) * (r + 1)
        dist.all_reduce(k)
        ok = bool(torch.equal(k, torch.arange(n, dtype=torch.int64) * sum(range(1, w + 1))))
        out[f"i64 {n}"] = [hashlib.sha1(k.numpy().tobytes()).hexdigest(), ok]
    print("ONET_RESULT " + json.dumps(out), flush=True)
    dist.destroy_process_group()
    """
)


def _run(codec: str, tmp: str, script: str = SCRIPT, metrics: bool = False) -> list[dict]:
    a = 1 + os.getpid() % 250
    ips = [f"127.{a}.77.{i + 1}" for i in range(2)]
    boot, store = free_port(), free_port()
    procs = []
    for i, ip in enumerate(ips):
        run_dir = os.path.join(tmp, f"h{i}")
        os.makedirs(run_dir, exist_ok=True)
        env = dict(os.environ)
        env.update(
            ONET_IFNAME=ip,
            ONET_RUN_DIR=run_dir,
            ONET_BOOTSTRAP=f"{ips[0]}:{boot}",
            ONET_JOB_ID=f"zpy{os.getpid()}{codec.replace(':', '')}",
            ONET_COMPRESSION=codec,
            ONET_TIMEOUT="60",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(store),
            RANK=str(i),
            WORLD_SIZE="2",
            LOCAL_RANK="0",
            LOCAL_WORLD_SIZE="1",
            PYTHONPATH=str(REPO / "python"),
        )
        if metrics:  # each host's coordinator serves /metrics on its own port
            env["ONET_METRICS_PORT"] = str(free_port())
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outs = []
    for p in procs:
        try:
            text, _ = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            text, _ = p.communicate()
        line = next((x for x in text.splitlines() if x.startswith("ONET_RESULT ")), None)
        assert line is not None, f"rank printed no result (rc {p.returncode}):\n{text[-3000:]}"
        outs.append(json.loads(line[len("ONET_RESULT ") :]))
    return outs


# One codec keeps this under ~30 s (two torch processes); the Node sweep covers every codec.
@pytest.mark.parametrize("codec,bound", [("int8", 0.05)])
def test_job_wide_compression_across_two_hosts(codec, bound):
    ok, why = coordinator_available()
    if not ok:
        pytest.skip(why)
    with tempfile.TemporaryDirectory() as tmp:
        outs = _run(codec, tmp)
    assert outs[0].keys() == outs[1].keys()
    for case, (digest, val) in outs[0].items():
        assert outs[1][case][0] == digest, f"{codec} {case}: ranks differ"
        if case.startswith("i64"):
            assert val is True, f"{codec} {case}: integer allreduce changed by a lossy setting"
        else:
            assert val <= bound + 1e-7, f"{codec} {case}: error {val} above {bound}"


PER_CALL = textwrap.dedent(
    """
    import hashlib, json, torch, torch.distributed as dist
    import opennetworks.torch as ont
    dist.init_process_group("opennetworks")
    r, w = dist.get_rank(), dist.get_world_size()
    dig = lambda t: hashlib.sha1(t.numpy().tobytes()).hexdigest()
    out = {}
    for n in (4097, 1 << 20):  # the gather path and the compressed ring
        g = torch.Generator().manual_seed(n)
        xs = [(torch.rand(n, generator=g) - 0.5) * 0.01 for _ in range(w)]
        exact = torch.stack([x.double() for x in xs]).sum(0)
        for codec in ("off", "bf16", "fp16", "int8", "topk", "zstd", "lz4"):
            y = xs[r].clone()
            try:
                with ont.compression(codec):
                    dist.all_reduce(y)
            except Exception as e:  # a build without libzstd/liblz4
                out[f"{codec} {n}"] = ["skip", str(e)[:200]]
                continue
            out[f"{codec} {n}"] = [dig(y), float((y.double() - exact).abs().max() / exact.abs().max())]
        ont.set_compression("int8")  # the group's choice, then back to the job's (off)
        y = xs[r].clone(); dist.all_reduce(y)
        out[f"group-int8 {n}"] = [dig(y), float((y.double() - exact).abs().max() / exact.abs().max())]
        ont.set_compression(None)
        y = xs[r].clone(); dist.all_reduce(y)
        out[f"group-none {n}"] = [dig(y), 0.0]
    # Error feedback: with a key the second call adds the first one's residual; without, calls repeat.
    x = (torch.rand(4097, generator=torch.Generator().manual_seed(r)) - 0.5) * 0.01
    runs = {}
    for key in (None, 7):
        ys = []
        for _ in range(2):
            y = x.clone()
            with ont.compression("int8", key=key):
                dist.all_reduce(y)
            ys.append(dig(y))
        runs[str(key)] = ys
    out["ef"] = runs
    import os, urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{os.environ['ONET_METRICS_PORT']}/metrics", timeout=10).read()
    out["metrics"] = [x for x in text.decode().splitlines() if x.startswith("onet_compression_")]
    """
)

BOUNDS = {"bf16": 2e-2, "fp16": 3e-3, "int8": 5e-2, "group-int8": 5e-2}


@pytest.fixture(scope="module")
def torch_job():
    """One two-host job (about 20 s) for the per-call, per-group, metrics and DDP hook checks."""
    ok, why = coordinator_available()
    if not ok:
        pytest.skip(why)
    with tempfile.TemporaryDirectory() as tmp:
        return _run("off", tmp, PER_CALL + DDP, metrics=True)


def test_per_call_and_per_group_compression_from_torch(torch_job):
    a, b = (dict(o) for o in torch_job)
    a.pop("ddp"), b.pop("ddp")
    for m in (a.pop("metrics"), b.pop("metrics")):  # bytes before/after per codec, from the engine
        after = {x.split('codec="')[1].split('"')[0]: float(x.split()[-1]) for x in m if 'stage="after"' in x}
        before = {x.split('codec="')[1].split('"')[0]: float(x.split()[-1]) for x in m if 'stage="before"' in x}
        print(m)
        assert {"bf16", "int8"} <= after.keys(), f"no per-codec byte counts in /metrics: {m}"
        assert 0 < after["int8"] < 0.3 * before["int8"], f"int8 bytes before/after: {m}"
        assert 0 < after["bf16"] < 0.6 * before["bf16"], f"bf16 bytes before/after: {m}"
    assert a["ef"] == b["ef"], "error-feedback runs differ between ranks"
    assert a["ef"]["None"][0] == a["ef"]["None"][1], "without a key two int8 calls must repeat exactly"
    assert a["ef"]["7"][0] != a["ef"]["7"][1], "with a key the second call must carry the first one's residual"
    print(json.dumps(a, indent=0))
    for case, (digest, val) in a.items():
        if case == "ef":
            continue
        assert b[case][0] == digest, f"{case}: ranks differ"
        if digest == "skip":
            continue
        codec, n = case.split()
        off = a[f"off {n}"][0]
        if codec in ("zstd", "lz4", "group-none"):
            assert digest == off, f"{case}: not bit-identical to off"
        elif codec in BOUNDS:
            assert 1e-6 < val <= BOUNDS[codec] + 1e-7, f"{case}: error {val} (want compressed, within bound)"
        elif codec == "topk":
            assert digest != off, f"{case}: topk left the result unchanged"


DDP = textwrap.dedent(
    """
    from torch.nn.parallel import DistributedDataParallel as DDP
    out["ddp"] = ddp = {}
    for name, ef in (("ef", True), ("noef", False)):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
        model = DDP(net)
        model.register_comm_hook(None, ont.compression_hook("int8", error_feedback=ef))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        g = torch.Generator().manual_seed(100 + r)
        x = torch.randn(256, 32, generator=g); y = x[:, :1] * 0.5 - x[:, 1:2]
        losses, digs = [], []
        for _ in range(30):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            losses.append(float(loss))
            digs.append(hashlib.sha1(torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()
                                     .tobytes()).hexdigest())
        ddp[name] = {"losses": losses, "digs": digs}
    print("ONET_RESULT " + json.dumps(out), flush=True)
    dist.destroy_process_group()
    """
)


def test_ddp_compression_hook_trains_and_carries_the_residual(torch_job):
    a, b = (o["ddp"] for o in torch_job)
    print({k: [round(x, 4) for x in a[k]["losses"][::5]] for k in ("ef", "noef")})
    for name in ("ef", "noef"):
        assert a[name]["digs"] == b[name]["digs"], f"{name}: parameters differ between ranks"
        ls = a[name]["losses"]
        assert ls[-1] < 0.5 * ls[0], f"{name}: DDP with the int8 hook did not train: {ls[0]} -> {ls[-1]}"
    # Same start and data: step 1 has no residual yet, later steps add it only with error feedback.
    assert a["ef"]["digs"][0] == a["noef"]["digs"][0], "the first step must not depend on error feedback"
    assert a["ef"]["digs"][-1] != a["noef"]["digs"][-1], "error feedback left every step unchanged"


def test_bad_codec_or_key_is_a_clear_error():
    from opennetworks._errors import InvalidArgumentError
    from opennetworks.torch import compression_hook
    from opennetworks.torch._comm_hook import _code, _key

    with pytest.raises(InvalidArgumentError, match=r"'gzip' is not one of off, bf16, fp16, int8, topk"):
        compression_hook("gzip")
    with pytest.raises(InvalidArgumentError, match="ONET_COMPRESSION=topk:R"):
        _code("topk:0.05")
    assert _code("topk:1%") == _code("topk") == 5
    with pytest.raises(InvalidArgumentError, match="1..65535"):
        _key(0)
    with pytest.raises(InvalidArgumentError, match="1..65535"):
        compression_hook("int8", first_key=70000)
