"""Lightning's DDPStrategy on OpenNetworks: two CPU processes, a tiny model, a few steps.

    .venv/bin/python examples/lightning/train.py                    # process_group_backend="opennetworks"
    .venv/bin/python examples/lightning/train.py --backend gloo     # the same run on gloo

Lightning starts the second process itself (it re-runs this script). `--out FILE` makes rank 0
save the final parameters (torch.save) for comparison.
"""

import argparse

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy
from torch.utils.data import DataLoader, TensorDataset

import opennetworks.torch  # noqa: F401  registers "opennetworks" (torch also loads it on its own)


class Regression(L.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="opennetworks", help="opennetworks or gloo")
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    x = torch.randn(128, 8, generator=torch.Generator().manual_seed(1))
    data = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)  # Lightning shards it per rank
    model = Regression()
    trainer = L.Trainer(
        strategy=DDPStrategy(process_group_backend=a.backend),
        accelerator="cpu",
        devices=a.devices,
        max_steps=a.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, data)
    if trainer.global_rank == 0:
        backend = torch.distributed.get_backend()
        print(f"{backend}: {trainer.world_size} processes, {trainer.global_step} steps", flush=True)
        if a.out:
            params = {k: v.detach().clone() for k, v in model.state_dict().items()}
            torch.save({"backend": backend, "world": trainer.world_size, "params": params}, a.out)


if __name__ == "__main__":
    main()
