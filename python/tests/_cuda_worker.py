"""One rank of a CUDA test run: tests/_worker.py's runner plus the CUDA scenarios.

test_cuda.py points _harness.WORKER here; everything else (init, result files) is _worker's.
"""

from __future__ import annotations

import torch

import _worker


def scenario_ddp_device(rank, P, be, device="cuda"):
    """_worker.scenario_ddp's model and data, trained on ``device``; every rank on GPU 0 when
    device is "cuda" (several ranks per GPU). Returns the parameters on the CPU."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = torch.device("cuda", 0) if device == "cuda" else torch.device("cpu")
    # TF32 would make the GPU's matmuls a different function from the CPU's, not just a
    # different rounding: keep full f32 so that the CPU comparison's tolerance stays small.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = _worker._model().to(dev)
    ddp = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    for step in range(6):
        x, y = _worker._batch_data(rank, step)
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x.to(dev)), y.to(dev)).backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return {k: v.detach().cpu().clone() for k, v in ddp.module.state_dict().items()}


_worker.scenario_ddp_device = scenario_ddp_device

if __name__ == "__main__":
    _worker.main()
