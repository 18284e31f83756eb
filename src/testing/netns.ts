// Several "hosts" on one machine: a network namespace per host, each with one veth into a
// bridge that lives in its own hub namespace (the machine's own network is never touched),
// addresses 10.<net>.0.<i+1>/24, and optional tc netem/tbf shaping on every host's egress.
// Everything created is named after this process's pid, removed by destroy(), on process
// exit, and — for namespaces left by a killed test — by the next harness that starts.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';

export interface Shape {
  rate?: string;
  delay?: string;
  loss?: string;
  corrupt?: string;
  reorder?: string;
}
export interface NetHost {
  index: number;
  ns: string;
  ip: string;
}
export interface Net {
  hosts: NetHost[];
  /** Spawn a process inside host i's namespace. */
  spawn(i: number, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Replace host i's egress shaping (netem), e.g. to inject loss or corruption mid-test. */
  shape(i: number, s: Shape): void;
  /** Take host i's link down or up. */
  link(i: number, up: boolean): void;
  destroy(): void;
}

const PREFIX = 'onett';
const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Why the harness cannot run here, or '' when it can (root and iproute2 with netns). */
export function netnsUnavailable(): string {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces';
  try {
    ip('netns', 'list');
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 (ip, tc) with network namespace support';
  }
  return '';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: any) {
    return e.code === 'EPERM';
  }
}

/** Remove namespaces left by harnesses whose process is gone. */
export function cleanStale(): number {
  let n = 0;
  for (const line of ip('netns', 'list').split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)-\\w+)`).exec(line.trim());
    if (m && !alive(Number(m[2]))) {
      try {
        ip('netns', 'del', m[1]);
        n++;
      } catch {
        /* raced with another cleaner */
      }
    }
  }
  return n;
}

/** Why netem (delay/loss/corruption) cannot be used here, or ''. Probed once on a throwaway veth. */
let netemWhy: string | undefined;
export function netemUnavailable(): string {
  if (netemWhy !== undefined) return netemWhy;
  const ns = `${PREFIX}${process.pid}-probe`;
  try {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1');
    execFileSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'p0', 'root', 'netem', 'delay', '1ms'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    netemWhy = '';
  } catch (e: any) {
    netemWhy = `tc netem is unavailable in this kernel (${String(e.stderr ?? e.message).trim()})`;
  } finally {
    try {
      ip('netns', 'del', ns);
    } catch {
      /* never made */
    }
  }
  return netemWhy;
}

let seq = 0;

export function netemArgs(s: Shape): string[] {
  const a: string[] = ['netem'];
  if (s.delay) a.push('delay', s.delay);
  if (s.loss) a.push('loss', s.loss);
  if (s.corrupt) a.push('corrupt', s.corrupt);
  if (s.reorder) a.push('reorder', s.reorder);
  if (s.rate) a.push('rate', s.rate);
  if (s.reorder && !s.delay) a.push('delay', '1ms'); // netem reorders only delayed packets
  return a;
}

export function createNet(nhosts: number, shape: Shape = {}): Net {
  cleanStale();
  const tag = `${PREFIX}${process.pid}`;
  const net = 100 + ((process.pid + seq++) % 100); // 10.100-199.0.x: different harnesses don't collide
  const hub = `${tag}-hub${seq}`;
  const hosts: NetHost[] = [];
  const made: string[] = [];
  const destroy = () => {
    for (const ns of made.splice(0)) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
    process.removeListener('exit', destroy);
  };
  process.on('exit', destroy);
  try {
    ip('netns', 'add', hub);
    made.push(hub);
    ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', hub, 'link', 'set', 'br0', 'up');
    for (let i = 0; i < nhosts; i++) {
      const ns = `${tag}-s${seq}h${i}`;
      ip('netns', 'add', ns);
      made.push(ns);
      const a = `${PREFIX}${process.pid % 100000}a${i}`.slice(0, 15),
        b = `${PREFIX}${process.pid % 100000}b${i}`.slice(0, 15);
      ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      ip('link', 'set', a, 'netns', ns);
      ip('link', 'set', b, 'netns', hub);
      ip('-n', ns, 'link', 'set', a, 'name', 'eth0');
      ip('-n', ns, 'addr', 'add', `10.${net}.0.${i + 1}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', hub, 'link', 'set', b, 'master', 'br0');
      ip('-n', hub, 'link', 'set', b, 'up');
      hosts.push({ index: i, ns, ip: `10.${net}.0.${i + 1}` });
    }
  } catch (e) {
    destroy();
    throw e;
  }
  const shapeHost = (i: number, s: Shape) => {
    const ns = hosts[i].ns;
    try {
      execFileSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], { stdio: 'ignore' });
    } catch {
      /* none yet */
    }
    const netem = Boolean(s.delay || s.loss || s.corrupt || s.reorder);
    if (!netem && !s.rate) return;
    // Rate alone: a token bucket (tbf). Delay, loss, corruption, reordering need sch_netem.
    const q = netem ? netemArgs(s) : ['tbf', 'rate', s.rate!, 'burst', '256kb', 'latency', '50ms'];
    try {
      execFileSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', ...q], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e: any) {
      throw new Error(
        `tc qdisc ${q.join(' ')} failed: ` +
          `${String(e.stderr ?? e.message).trim()}` +
          `${netem ? ' (this kernel may lack sch_netem; see netemUnavailable())' : ''}`,
      );
    }
  };
  for (let i = 0; i < nhosts; i++) shapeHost(i, shape);
  return {
    hosts,
    spawn: (i, cmd, args, env = {}) =>
      spawn('ip', ['netns', 'exec', hosts[i].ns, cmd, ...args], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    shape: shapeHost,
    link: (i, up) => ip('-n', hosts[i].ns, 'link', 'set', 'eth0', up ? 'up' : 'down'),
    destroy,
  };
}
