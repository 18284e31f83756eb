// The compression part of `onet explain` (docs/compression.md): which codec a cross-host f32 allreduce of this
// size would run with, and the predicted time of every codec, by the model `auto` uses in the engine
// (native/engine/compression.cc): T_off = V/B, T_c = V/(ratio·B) + S/enc + V/dec on the compressed ring
// (V = 2(H−1)/H·S), and the compress-once gather for top-k (V = (H−1)·S, H frames decoded).
import { setting } from '../config/settings.js';
import type { CostParams } from '../scheduler/costmodel.js';
import { fmtUs } from '../scheduler/format.js';

/** Ratio and single-thread speed (bytes of f32 per second) of each codec: codec_test --bench, docs/compression.md. */
export const CODEC_FIGURES: Record<string, { ratio: number; enc: number; dec: number }> = {
  bf16: { ratio: 2.0, enc: 5.1e9, dec: 3.9e9 },
  fp16: { ratio: 2.0, enc: 0.25e9, dec: 0.3e9 },
  int8: { ratio: 3.94, enc: 0.68e9, dec: 10e9 },
  'topk:0.01': { ratio: 50, enc: 0.08e9, dec: 14.7e9 },
  zstd: { ratio: 1.23, enc: 0.06e9, dec: 0.23e9 },
  lz4: { ratio: 1.13, enc: 0.11e9, dec: 0.29e9 },
};
const AUTO_MIN_BYTES = 1 << 20; // as the engine: below this auto never compresses
const AUTO_CANDIDATES = ['bf16', 'int8'];

export interface CompressionExplain {
  setting: string;
  chosen: string;
  why: string;
  /** Predicted µs of the cross-host data movement with each codec (off first). */
  predictedUs: Record<string, number>;
}

export function explainCompression(bytes: number, p: CostParams, env = process.env): CompressionExplain {
  const set = String(setting('compression', env) ?? 'off');
  const H = p.P;
  const predictedUs: Record<string, number> = {};
  if (H < 2) return { setting: set, chosen: 'off', why: 'one host: nothing is compressed inside a host', predictedUs };
  const bPerUs = p.betaUs > 0 ? 1 / p.betaUs : Number.POSITIVE_INFINITY; // bytes per µs
  const S = bytes,
    V = (2 * (H - 1) * S) / H;
  predictedUs.off = V / bPerUs;
  for (const [name, f] of Object.entries(CODEC_FIGURES)) {
    const gather = name.startsWith('topk');
    const wire = gather ? (H - 1) * S : V;
    const decoded = gather ? H * S : V;
    predictedUs[name] = wire / f.ratio / bPerUs + (S / f.enc) * 1e6 + (decoded / f.dec) * 1e6;
  }
  let chosen = set,
    why = `ONET_COMPRESSION=${set}`;
  if (set === 'auto') {
    chosen = 'off';
    why = 'auto: below 1 MiB latency dominates, off';
    if (S >= AUTO_MIN_BYTES) {
      let best = predictedUs.off * 0.85;
      for (const c of AUTO_CANDIDATES)
        if (predictedUs[c] < best) {
          best = predictedUs[c];
          chosen = c;
        }
      why = `auto: ${chosen === 'off' ? 'no codec beats off by 15 %' : `${chosen} beats off by 15 % or more`}`;
    }
  } else if (set !== 'off') why += ' (f32 sum/avg; other dtypes and ops fall back to off, lossless ones apply to all)';
  return { setting: set, chosen, why, predictedUs };
}

export function compressionText(c: CompressionExplain): string {
  const alts = Object.entries(c.predictedUs)
    .map(([k, us]) => `${k} ${fmtUs(us)}`)
    .join(', ');
  return (
    `compression: ${c.chosen} (${c.why})` +
    (alts
      ? `\ncompression, predicted cross-host data time per codec (f32; codec speeds from docs/compression.md, ` +
        `measure yours with codec_test --bench): ${alts}`
      : '')
  );
}
