// `onet dashboard`: print (and with --open, open) the dashboard URL of a running job. The
// coordinator serves it when started with ONET_METRICS_PORT or ONET_DASHBOARD_PORT.
import { spawn } from 'node:child_process';
import { Control } from '../api/control.js';
import { jobId, jobPaths } from '../coordinator/paths.js';
import { OnetError } from '../errors.js';
import { clientAuth } from '../security/auth.js';

export async function dashboard(o: { job?: string; open?: boolean }): Promise<void> {
  const job = o.job ?? jobId();
  const ctl = new Control(jobPaths(job).endpoint);
  try {
    const s = await ctl
      .request({ type: 'status', ...clientAuth(process.env, ['status', job], ['observer', 'admin', 'rank']) }, 3000)
      .catch((e) => {
        throw new OnetError(
          'ETIMEDOUT',
          `no coordinator answered for job ${job} (${(e as Error).message}); is the job running? pass --job <id>`,
        );
      });
    const url = s.telemetry?.dashboard as string | undefined;
    if (!url)
      throw new OnetError(
        'EINVAL',
        `job ${job} runs without a dashboard: start it with ONET_METRICS_PORT=9464 (or ONET_DASHBOARD_PORT) set, ` +
          `e.g. ONET_METRICS_PORT=9464 onet run -n 4 -- ...`,
      );
    console.log(`onet dashboard: ${url}`);
    console.log(`onet metrics:   ${s.telemetry.metrics}`);
    if (o.open) {
      const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
      const p = spawn(opener, [url], { detached: true, stdio: 'ignore' });
      p.on('error', () => console.error(`onet dashboard: could not run ${opener}; open the URL above in a browser`));
      p.unref();
    }
  } finally {
    ctl.close();
  }
}
