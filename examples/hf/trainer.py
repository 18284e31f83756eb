"""HuggingFace Trainer, data-parallel over OpenNetworks: a tiny GPT-2 built from a config (no
download) trained on a synthetic dataset.

    HF_HUB_OFFLINE=1 .venv/bin/torchrun --nproc-per-node 2 examples/hf/trainer.py
    HF_HUB_OFFLINE=1 .venv/bin/torchrun --nproc-per-node 2 examples/hf/trainer.py --backend gloo

`--out FILE` makes rank 0 save the losses and the final parameters (torch.save) for comparison.
"""

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

import opennetworks.hf


class Synthetic(torch.utils.data.Dataset):
    """Token sequences with a learnable pattern: every token is (previous * 3 + 1) % vocab."""

    def __init__(self, n: int, length: int, vocab: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        start = torch.randint(0, vocab, (n, 1), generator=g)
        steps = torch.arange(length)
        self.ids = (start * (3**steps) + (3**steps - 1) // 2) % vocab

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="opennetworks", help="opennetworks or gloo")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--out", default="")
    ap.add_argument("--workdir", default="/tmp/onet-hf-example")
    a = ap.parse_args()

    opennetworks.hf.init(a.backend)  # before TrainingArguments: accelerate adopts the group

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=64,
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    args = TrainingArguments(
        output_dir=a.workdir,
        use_cpu=True,
        max_steps=a.steps,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=Synthetic(64, 16, config.vocab_size))
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    rank = int(os.environ.get("RANK", "0"))
    print(
        f"rank {rank}: world {args.world_size}, final loss {result.training_loss:.6f}, "
        f"losses {[round(x, 4) for x in losses]}",
        flush=True,
    )
    if a.out and rank == 0:
        torch.save(
            {
                "losses": losses,
                "train_loss": result.training_loss,
                "world": args.world_size,
                "params": {k: v.detach().clone() for k, v in model.state_dict().items()},
            },
            a.out,
        )
    # Tear the group down before the interpreter exits: a gloo group left to the exit-time
    # destructors sometimes aborts ("terminate called without an active exception").
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
