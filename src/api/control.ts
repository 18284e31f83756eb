// A rank's control connection: one DEALER, requests matched to replies by id, and the
// coordinator started on demand by local rank 0 (docs/protocol.md §1).
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { PROTOCOL_VERSION } from '../bridge/protocol.js';
import { setting } from '../config/settings.js';
import { pidFileAlive } from '../coordinator/liveness.js';
import { ensurePrivateDir, jobPaths, runDir } from '../coordinator/paths.js';
import { OnetError } from '../errors.js';

type Reply = Record<string, any>;

export class Control {
  private readonly sock = new zmq.Dealer({ linger: 0 });
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private sendChain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(readonly endpoint: string) {
    this.sock.connect(endpoint);
    void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    try {
      for await (const [frame] of this.sock) {
        const m = JSON.parse(frame.toString('utf8'));
        const w = this.waiting.get(m.id);
        if (!w) continue;
        this.waiting.delete(m.id);
        if (m.type === 'error')
          w.reject(OnetError.fromFields(m)); // code and ranks are fields (docs/protocol.md §2)
        else w.resolve(m);
      }
    } catch {
      /* socket closed */
    }
  }

  /** Send one request and wait for its reply (or an OnetError after timeoutMs). */
  request(body: Record<string, unknown>, timeoutMs: number): Promise<Reply> {
    if (this.closed) return Promise.reject(new OnetError('ECLOSED', 'the communicator is closed'));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(
          new OnetError(
            'ETIMEDOUT',
            `no answer to ${body.type} from the coordinator at ${this.endpoint} within ${timeoutMs / 1000} s`,
          ),
        );
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const frame = JSON.stringify({ v: PROTOCOL_VERSION, id, ...body });
      this.sendChain = this.sendChain.then(() => this.sock.send(frame)).catch(() => undefined);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.values()) w.reject(new OnetError('ECLOSED', 'the communicator is closed'));
    this.waiting.clear();
    this.sock.close();
  }
}

/** Is a coordinator for this job running (pid file names a live process)? */
export function coordinatorRunning(job: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const { pidFile } = jobPaths(job, env);
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return pid > 0 && pidFileAlive(pid, pidFile); // a zombie or a pid reused since is not it
}

/** Start `onet serve` for the job, detached, logging to the job directory. */
export function startCoordinator(job: string, world: number, env: NodeJS.ProcessEnv = process.env): void {
  const paths = jobPaths(job, env);
  ensurePrivateDir(runDir(env));
  ensurePrivateDir(paths.dir);
  const onet =
    (setting('coordinator', env) as string) ||
    join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'onet.js');
  const node = (setting('node', env) as string) || process.execPath;
  const out = openSync(paths.log, 'a', 0o600);
  const args = ['serve', '--job', job, '--world', String(world), '--exit-when-idle'];
  const child = onet.endsWith('.js')
    ? spawn(node, [onet, ...args], { detached: true, stdio: ['ignore', out, out], env })
    : spawn(onet, args, { detached: true, stdio: ['ignore', out, out], env });
  child.unref();
}
