// Rank processes run in their own process groups (so stop() reaches their children too),
// which also means a Ctrl-C in the terminal no longer reaches them. This module keeps the
// groups of every running launch() and takes them down when this process goes: on exit
// (SIGKILL), and on SIGINT/SIGTERM/SIGHUP when nobody else handles the signal (forward it,
// then die of it as the default action would).

const groups = new Set<number>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooked = false;

/** Send `sig` to process group `pgid`; false when the group is gone. */
export function killGroup(pgid: number | undefined, sig: NodeJS.Signals): boolean {
  if (!pgid) return false;
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

function onSignal(sig: NodeJS.Signals): void {
  // Someone else handles it (onet run stops its job gracefully): leave it to them.
  if (process.listenerCount(sig) > 1) return;
  for (const g of groups) killGroup(g, sig);
  unhook();
  process.kill(process.pid, sig);
}
const handlers = new Map(SIGNALS.map((s) => [s, () => onSignal(s)] as const));
const onExit = () => {
  for (const g of groups) killGroup(g, 'SIGKILL');
};

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', onExit);
  for (const [s, h] of handlers) process.on(s, h);
}
function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.off('exit', onExit);
  for (const [s, h] of handlers) process.off(s, h);
}

/** Track a rank's process group until release(). */
export function track(pgid: number): void {
  groups.add(pgid);
  hook();
}

/** Stop tracking a group (its leader exited and its leftovers were killed). */
export function release(pgid: number): void {
  groups.delete(pgid);
  if (groups.size === 0) unhook();
}
