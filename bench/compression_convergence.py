"""Convergence with compression (docs/compression.md): the demo model of examples/torch/ddp_demo.py trained
with DDP over two loopback "hosts" (1 rank each, own coordinator each, so the gradients cross the
compressed cross-host path) with compression off, int8 + error feedback and topk:0.01 + error feedback
(opennetworks.torch.compression_hook), the same steps and data. Prints each run's final losses and writes
the loss curves to docs/img/compression_loss.png (needs matplotlib: the `bench` extra).

    .venv/bin/python bench/compression_convergence.py [--steps 1000] [--out docs/img/compression_loss.png]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = [("off", None), ("int8 + EF", "int8"), ("topk:0.01 + EF", "topk")]

WORKER = textwrap.dedent(
    """
    import json, sys, torch, torch.distributed as dist, torch.nn as nn
    import opennetworks.torch as ont
    codec, steps = (None if sys.argv[1] == "off" else sys.argv[1]), int(sys.argv[2])
    dist.init_process_group("opennetworks")
    rank = dist.get_rank()
    FEATURES, CLASSES, NOISE, BATCH = 64, 10, 2.5, 64  # the task of examples/torch/ddp_demo.py
    centres = torch.randn(CLASSES, FEATURES, generator=torch.Generator().manual_seed(0))
    def sample(n, g):
        y = torch.randint(0, CLASSES, (n,), generator=g)
        return centres[y] + NOISE * torch.randn(n, FEATURES, generator=g), y
    test_x, test_y = sample(2048, torch.Generator().manual_seed(999))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, CLASSES))
    ddp = nn.parallel.DistributedDataParallel(model)
    if codec:
        ddp.register_comm_hook(None, ont.compression_hook(codec))
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(1000 + rank)
    train, held = [], []
    for step in range(1, steps + 1):
        x, y = sample(BATCH, g)
        loss = nn.functional.cross_entropy(ddp(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        train.append(loss.item())
        if step % 10 == 0 or step == steps:
            with torch.no_grad():
                held.append([step, nn.functional.cross_entropy(model(test_x), test_y).item(),
                             (model(test_x).argmax(1) == test_y).float().mean().item()])
    print("ONET_RESULT " + json.dumps({"train": train, "held": held}), flush=True)
    dist.destroy_process_group()
    """
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(codec: str | None, steps: int, tmp: str) -> dict:
    a = 1 + os.getpid() % 250
    ips = [f"127.{a}.78.{i + 1}" for i in range(2)]
    boot, store = _port(), _port()
    procs = []
    for i, ip in enumerate(ips):
        run_dir = os.path.join(tmp, f"{codec}-h{i}")
        os.makedirs(run_dir, exist_ok=True)
        env = dict(os.environ)
        env.update(
            ONET_IFNAME=ip,
            ONET_RUN_DIR=run_dir,
            ONET_BOOTSTRAP=f"{ips[0]}:{boot}",
            ONET_JOB_ID=f"zconv{os.getpid()}{codec or 'off'}",
            ONET_TIMEOUT="120",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(store),
            RANK=str(i),
            WORLD_SIZE="2",
            LOCAL_RANK="0",
            LOCAL_WORLD_SIZE="1",
            PYTHONPATH=str(REPO / "python"),
        )
        args = [sys.executable, "-c", WORKER, codec or "off", str(steps)]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = []
    for p in procs:
        try:
            text, _ = p.communicate(timeout=60 + steps)
        except subprocess.TimeoutExpired:
            p.kill()
            text, _ = p.communicate()
        line = next((x for x in text.splitlines() if x.startswith("ONET_RESULT ")), None)
        if line is None:
            raise SystemExit(f"{codec}: a rank printed no result (rc {p.returncode}):\n{text[-3000:]}")
        outs.append(json.loads(line[len("ONET_RESULT ") :]))
    return outs[0]


def smooth(xs: list[float], k: int = 10) -> list[float]:
    return [sum(xs[max(0, i - k + 1) : i + 1]) / (i + 1 - max(0, i - k + 1)) for i in range(len(xs))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--out", default=str(REPO / "docs/img/compression_loss.png"))
    o = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, codec in VARIANTS:
            results[name] = r = run(codec, o.steps, tmp)
            step, loss, acc = r["held"][-1]
            tail = sum(r["train"][-20:]) / 20
            print(f"{name:16s} step {step}: held-out loss {loss:.4f}, accuracy {acc:.3f}, train (last 20) {tail:.4f}")
    base = results["off"]["held"][-1][1]
    for name in results:
        rel = results[name]["held"][-1][1] / base - 1
        print(f"{name:16s} held-out loss vs off: {rel * 100:+.2f} %")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'opennetworks[bench]'): no plot written")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, r in results.items():
        ax1.plot(range(1, len(r["train"]) + 1), smooth(r["train"]), label=name)
        ax2.plot([h[0] for h in r["held"]], [h[1] for h in r["held"]], label=name)
    ax1.set(title="train loss (mean of 10 steps)", xlabel="step", ylabel="cross-entropy")
    ax2.set(title="held-out loss", xlabel="step")
    for ax in (ax1, ax2):
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("DDP over 2 hosts (loopback), opennetworks.torch.compression_hook", fontsize=10)
    fig.tight_layout()
    Path(o.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(o.out, dpi=110)
    print(f"wrote {o.out}")


if __name__ == "__main__":
    main()
