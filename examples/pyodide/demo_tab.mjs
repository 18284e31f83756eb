// A browser tab's rank of `npm run demo:browser`, in JavaScript: the same linear regression step as
// demo_torch_rank.py on this tab's shard, the gradient summed over all ranks with comm.allreduce.
// `comm` is what join(url) gave (the coordinator's join page keeps it in window.onet.ready).

/** Train on {x, y} for cfg.steps steps; resolves to the final parameters [w..., b]. */
export async function train(comm, shard, cfg, onStep = () => {}) {
  const { x, y } = shard;
  const n = y.length;
  const d = x[0].length;
  const params = new Float32Array(d + 1);
  for (let step = 0; step < cfg.steps; step++) {
    const g = new Float32Array(d + 2); // [dL/dw, dL/db, loss]
    for (let i = 0; i < n; i++) {
      let p = params[d];
      for (let j = 0; j < d; j++) p += x[i][j] * params[j];
      const err = Math.fround(p) - y[i];
      for (let j = 0; j < d; j++) g[j] += (2 / n) * err * x[i][j];
      g[d] += (2 / n) * err;
      g[d + 1] += (err * err) / n;
    }
    const sum = await comm.allreduce(g, { op: 'sum' });
    // lr is a power of two and world a power of two: one rounding, as torch's `params -= lr * g / world`.
    for (let j = 0; j <= d; j++) params[j] = params[j] - cfg.lr * (sum[j] / comm.world);
    onStep(step + 1, sum[d + 1] / comm.world);
  }
  return Array.from(params);
}
