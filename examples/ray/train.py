"""Ray Train's TorchTrainer on the opennetworks torch backend: two CPU workers, DDP, a tiny model.

    .venv/bin/python examples/ray/train.py                            # a local Ray instance
    .venv/bin/python examples/ray/train.py --address auto --backend gloo

The workers need no import of ours: torch loads the "opennetworks" backend through the package's
torch.backends entry point. `--out FILE` makes rank 0 save the final parameters (torch.save).
`--twin gloo` also trains an identical model on the same batches with DDP over a gloo group in the
same workers, and saves its parameters beside ("twin"): one Ray Train run compares both backends.
"""

import argparse
import shutil
import tempfile

import ray
import torch
from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer


def build() -> torch.nn.Module:
    torch.manual_seed(0)  # the same initial model on every worker (DDP also broadcasts rank 0's)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def train_loop(config: dict) -> None:
    import ray.train
    import ray.train.torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    models = [ray.train.torch.prepare_model(build())]  # DDP over the trainer's backend
    if config["twin"]:
        models.append(DDP(build(), process_group=dist.new_group(backend=config["twin"])))
    opts = [torch.optim.SGD(m.parameters(), lr=0.05) for m in models]
    rank = ray.train.get_context().get_world_rank()
    data = torch.Generator().manual_seed(100 + rank)  # each worker its own batches
    for _ in range(config["steps"]):
        x = torch.randn(16, 8, generator=data)
        for model, opt in zip(models, opts):
            loss = torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
    if rank == 0 and config["out"]:
        params = [{k: v.detach().clone() for k, v in m.module.state_dict().items()} for m in models]
        saved = {"backend": dist.get_backend(), "world": dist.get_world_size(), "params": params[0]}
        if config["twin"]:
            saved.update(twin=config["twin"], twin_params=params[1])
        torch.save(saved, config["out"])
    ray.train.report({"loss": loss.item()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    ap.add_argument("--backend", default="opennetworks", help="opennetworks or gloo")
    ap.add_argument("--twin", default="", help="also train a copy over this backend (e.g. gloo)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    ray.init(address=a.address, num_cpus=None if a.address else 2, log_to_driver=False)
    storage = tempfile.mkdtemp(prefix="onet-ray-train-")  # Ray Train's run directory (removed at the end)
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"steps": a.steps, "out": a.out, "twin": a.twin},
        scaling_config=ScalingConfig(num_workers=2, use_gpu=False, resources_per_worker={"CPU": 0.5}),
        torch_config=TorchConfig(backend=a.backend),
        run_config=RunConfig(storage_path=storage, name=a.backend),
    )
    result = trainer.fit()
    print(f"{a.backend}: trained, {result.error or 'no error'}")
    ray.shutdown()
    shutil.rmtree(storage, ignore_errors=True)


if __name__ == "__main__":
    main()
