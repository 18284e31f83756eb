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

/** Why the NAT harness cannot run here ('' when it can): netns needs, plus iptables for MASQUERADE. */
export function natUnavailable(): string {
  const why = netnsUnavailable();
  if (why) return why;
  try {
    execFileSync('iptables', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs iptables for the NAT routers (apt-get install -y iptables)';
  }
  return '';
}

export interface NatNet {
  /** The public host (runs `onet relay`), on the "internet" 10.<n>.0.0/24. */
  pub: NetHost;
  /** One host per private LAN 192.168.<n+i>.0/24, each behind its own MASQUERADE router. */
  hosts: NetHost[];
  /** The routers' public addresses, by LAN. */
  routers: string[];
  spawn(i: number, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  spawnPub(cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  destroy(): void;
}

export interface NatOptions {
  /**
   * Symmetric NAT: every new flow leaves from a random public port (`MASQUERADE --random-fully`), so
   * the port a peer observes is useless to anyone else and hole punching must fail. Default: the
   * port-preserving NAT of `MASQUERADE` (source ports kept where free; what most home routers do).
   */
  symmetric?: boolean;
}

/**
 * `lans` private LANs, each one host behind its own NAT router namespace (iptables MASQUERADE on the
 * router's public side, ip_forward on), the routers and one public host on a bridge ("the internet").
 * The private hosts reach the public host only through their router; they cannot reach each other
 * directly (no route between the LANs), so only a relay on the public host joins them.
 */
export function createNatNet(lans: number, opts: NatOptions = {}): NatNet {
  cleanStale();
  const tag = `${PREFIX}${process.pid}`;
  const k = seq++;
  const n = 100 + ((process.pid + k) % 100);
  const made: string[] = [];
  const destroy = () => {
    for (const ns of made.splice(0).reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
    process.removeListener('exit', destroy);
  };
  process.on('exit', destroy);
  const inNs = (ns: string, cmd: string, ...a: string[]) =>
    execFileSync('ip', ['netns', 'exec', ns, cmd, ...a], { stdio: ['ignore', 'pipe', 'pipe'] });
  let vid = 0;
  /** A veth pair between two namespaces, named `an` in `a` and `bn` in `b`, both up, with addresses. */
  const wire = (a: string, an: string, aAddr: string, b: string, bn: string, bAddr?: string) => {
    const x = `${PREFIX}${process.pid % 100000}n${k}v${vid}`.slice(0, 15);
    const y = `${PREFIX}${process.pid % 100000}m${k}v${vid++}`.slice(0, 15);
    ip('link', 'add', x, 'type', 'veth', 'peer', 'name', y);
    ip('link', 'set', x, 'netns', a);
    ip('link', 'set', y, 'netns', b);
    ip('-n', a, 'link', 'set', x, 'name', an);
    ip('-n', b, 'link', 'set', y, 'name', bn);
    if (aAddr) ip('-n', a, 'addr', 'add', aAddr, 'dev', an);
    if (bAddr) ip('-n', b, 'addr', 'add', bAddr, 'dev', bn);
    ip('-n', a, 'link', 'set', an, 'up');
    ip('-n', b, 'link', 'set', bn, 'up');
  };
  const addNs = (name: string) => {
    const ns = `${tag}-${name}${k}`;
    ip('netns', 'add', ns);
    made.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    return ns;
  };
  try {
    const hub = addNs('inet');
    ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', hub, 'link', 'set', 'br0', 'up');
    const pubNs = addNs('pub');
    wire(pubNs, 'eth0', `10.${n}.0.1/24`, hub, 'p0');
    ip('-n', hub, 'link', 'set', 'p0', 'master', 'br0');
    const hosts: NetHost[] = [];
    const routers: string[] = [];
    for (let i = 0; i < lans; i++) {
      const r = addNs(`nat${i}`);
      const h = addNs(`lan${i}h`);
      const pubAddr = `10.${n}.0.${i + 2}`;
      wire(r, 'eth0', `${pubAddr}/24`, hub, `r${i}`);
      ip('-n', hub, 'link', 'set', `r${i}`, 'master', 'br0');
      const lan = `192.168.${(n + i) % 250}`;
      wire(r, 'lan0', `${lan}.1/24`, h, 'eth0', `${lan}.2/24`);
      ip('-n', h, 'route', 'add', 'default', 'via', `${lan}.1`);
      inNs(r, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      const masquerade = ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth0', '-j', 'MASQUERADE'];
      inNs(r, 'iptables', ...masquerade, ...(opts.symmetric ? ['--random-fully'] : []));
      // Unsolicited packets to the router itself are dropped, as a home router's firewall does (before
      // conntrack records them: a RST/ICMP answer would pin the port and defeat hole punching).
      inNs(r, 'iptables', '-A', 'INPUT', '-i', 'eth0', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP');
      // A NAT router forwards nothing unsolicited into its LAN: only replies (conntrack).
      inNs(
        r,
        'iptables',
        '-A',
        'FORWARD',
        '-i',
        'eth0',
        '-m',
        'conntrack',
        '--ctstate',
        'ESTABLISHED,RELATED',
        '-j',
        'ACCEPT',
      );
      inNs(r, 'iptables', '-A', 'FORWARD', '-i', 'eth0', '-j', 'DROP');
      hosts.push({ index: i, ns: h, ip: `${lan}.2` });
      routers.push(pubAddr);
    }
    const run = (ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
      spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    return {
      pub: { index: -1, ns: pubNs, ip: `10.${n}.0.1` },
      hosts,
      routers,
      spawn: (i, cmd, args, env) => run(hosts[i].ns, cmd, args, env),
      spawnPub: (cmd, args, env) => run(pubNs, cmd, args, env),
      destroy,
    };
  } catch (e) {
    destroy();
    throw e;
  }
}
