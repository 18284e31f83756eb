// Per-host CPU, memory and (where an NVIDIA driver is present) GPU utilisation, sampled
// off the hot path: os counters every poll, nvidia-smi at most every 5 s, asynchronously.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, freemem, hostname, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';

export interface GpuSample {
  index: number;
  name: string;
  util: number;
  memUsed: number;
  memTotal: number;
}
export interface HostSample {
  host: string;
  cpu: number;
  ncpu: number;
  memTotal: number;
  memUsed: number;
  rss: number;
  gpus: GpuSample[];
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0,
    total = 0;
  for (const c of cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}

function nvidiaSmi(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'nvidia-smi');
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export class HostSampler {
  private last = cpuTimes();
  private gpus: GpuSample[] = [];
  private gpuAt = 0;
  private readonly smi?: string;
  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.smi = existsSync('/proc/driver/nvidia') || nvidiaSmi(env) ? nvidiaSmi(env) : undefined;
  }
  get hasGpu(): boolean {
    return !!this.smi;
  }

  sample(): HostSample {
    const now = cpuTimes();
    const dt = now.total - this.last.total;
    const cpu = dt > 0 ? (now.busy - this.last.busy) / dt : 0;
    this.last = now;
    if (this.smi && Date.now() - this.gpuAt > 5000) {
      this.gpuAt = Date.now();
      execFile(
        this.smi,
        ['--query-gpu=index,name,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'],
        { timeout: 4000 },
        (err, out) => {
          if (err) return;
          this.gpus = out
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => {
              const [i, name, u, mu, mt] = l.split(',').map((s) => s.trim());
              return {
                index: Number(i),
                name,
                util: Number(u) / 100,
                memUsed: Number(mu) * 2 ** 20,
                memTotal: Number(mt) * 2 ** 20,
              };
            });
        },
      );
    }
    const total = totalmem();
    return {
      host: hostname(),
      cpu,
      ncpu: cpus().length,
      memTotal: total,
      memUsed: total - freemem(),
      rss: process.memoryUsage.rss(),
      gpus: this.gpus,
    };
  }
}
