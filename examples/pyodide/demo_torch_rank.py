"""A PyTorch rank of `npm run demo:browser`: linear regression on its shard of the data (the JSON file named by
DEMO_DATA), every step's gradient summed over all ranks (two torch processes and two browser tabs) with
dist.all_reduce and divided by the world size. Rank 0 prints the mean loss per step; each rank prints its
final parameters as ONET_RESULT {"rank", "params"}.

The gradient vector is [dL/dw (D), dL/db, loss]: the loss rides along, so its sum is the full batch's mean loss.
lr is a power of two, so the update is one rounding and the browser tabs compute exactly the same parameters.
"""

import json
import os

import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401  (registers the "opennetworks" backend)


def main():
    # WORLD_SIZE counts the browser tabs; under onet run --web, env:// waits only for the process ranks.
    dist.init_process_group("opennetworks")
    rank, world = dist.get_rank(), dist.get_world_size()
    with open(os.environ["DEMO_DATA"]) as f:
        cfg = json.load(f)
    shard = cfg["shards"][rank]
    x = torch.tensor(shard["x"], dtype=torch.float32)
    y = torch.tensor(shard["y"], dtype=torch.float32)
    n, d = x.shape
    params = torch.zeros(d + 1)  # w then b
    for step in range(cfg["steps"]):
        err = x @ params[:d] + params[d] - y
        g = torch.empty(d + 2)
        g[:d] = (2.0 / n) * (x.T @ err)
        g[d] = (2.0 / n) * err.sum()
        g[d + 1] = (err * err).mean()
        dist.all_reduce(g)  # sum over every rank, the browser tabs included
        g /= world
        params -= cfg["lr"] * g[: d + 1]
        if rank == 0:
            print(f"step {step + 1:3d}/{cfg['steps']}  mean loss over all {world} ranks {g[d + 1].item():.6f}")
    print("ONET_RESULT " + json.dumps({"rank": rank, "kind": "torch", "params": params.tolist()}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
