"""A browser tab's rank of `npm run demo:browser -- --tabs pyodide`, in Python under Pyodide (page_rank.mjs):
the same linear regression step as demo_torch_rank.py, in pure Python (no numpy), the gradient summed over all
ranks with opennetworks.web."""

import array

from opennetworks import web


async def main(url, shard, cfg):
    comm = await web.join(url)  # the page loaded /opennetworks.js: the client is globalThis.opennetworks
    x, y = shard["x"], shard["y"]
    n, d = len(y), len(x[0])
    params = array.array("f", [0.0] * (d + 1))  # w then b, float32 like the other ranks
    for _ in range(cfg["steps"]):
        g = [0.0] * (d + 2)  # [dL/dw, dL/db, loss]
        for row, target in zip(x, y):
            pred = array.array("f", [params[d] + sum(v * params[j] for j, v in enumerate(row))])[0]
            err = pred - target
            for j, v in enumerate(row):
                g[j] += 2.0 / n * err * v
            g[d] += 2.0 / n * err
            g[d + 1] += err * err / n
        total = await comm.all_reduce(array.array("f", g), op="sum")
        for j in range(d + 1):  # stored as float32: one rounding, as torch's `params -= lr * g / world`
            params[j] = params[j] - cfg["lr"] * (total[j] / comm.world)
    await comm.close()
    return list(params)
