// One libp2p node per host identity at a time. Two nodes with one peer id would take each other's
// relay reservation and hellos, so a coordinator holds its host's key (identity.ts) while it runs: it
// writes `<pid> <start time>` (liveness.ts) beside the key, and the next coordinator waits for that
// process to exit before it starts its node. A growing job (src/api/join.ts) thus starts the next
// epoch's coordinator at once, and that one boots while the last epoch's winds down. A holder that
// died (SIGKILL, a crash) holds nothing: its pid is gone, or now names another process.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { alive, identify, type ProcId } from '../coordinator/liveness.js';
import { OnetError } from '../errors.js';

/** Beside a host key: the process running a libp2p node with it. */
export const holderFile = (keyFile: string): string => `${keyFile}.holder`;

/** The live process holding the key in `keyFile` other than this one, if any. */
export function keyHolder(keyFile: string): ProcId | undefined {
  let text: string;
  try {
    text = readFileSync(holderFile(keyFile), 'utf8');
  } catch {
    return undefined;
  }
  const [pid, start] = text.trim().split(' ').map(Number);
  const id = { pid, start: Number.isFinite(start) ? start : 0 };
  return pid > 0 && pid !== process.pid && alive(id) ? id : undefined;
}

/**
 * Wait, at most `ms`, while another live process holds the key in `keyFile` (checked after 5 ms,
 * then 1.5 times longer each time up to 50 ms), then hold it for the rest of this process's life.
 * Returns the ms waited (0: nobody held it); ETIMEDOUT names the holder when it still runs after `ms`.
 */
export async function holdKey(keyFile: string, ms: number): Promise<number> {
  const t0 = Date.now();
  let waited = false;
  for (let wait = 5, h = keyHolder(keyFile); h; h = keyHolder(keyFile), wait = Math.min(50, wait * 1.5)) {
    waited = true;
    if (Date.now() - t0 >= ms)
      throw new OnetError(
        'ETIMEDOUT',
        `another process (pid ${h.pid}) has run a libp2p node with this host's identity ${keyFile} for ` +
          `${Math.round(ms / 1000)} s: one ONET_WAN coordinator per host identity at a time; let it finish, ` +
          'or give this job its own ONET_STATE_DIR',
      );
    await new Promise((r) => setTimeout(r, wait));
  }
  const me = identify(process.pid);
  const tmp = `${holderFile(keyFile)}.${process.pid}`;
  writeFileSync(tmp, `${me.pid} ${me.start}\n`, { mode: 0o600 });
  renameSync(tmp, holderFile(keyFile));
  return waited ? Math.max(1, Date.now() - t0) : 0;
}
