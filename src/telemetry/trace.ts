// ONET_TRACE=path: a Chrome-trace JSON timeline (open it in https://ui.perfetto.dev or
// chrome://tracing). One track per rank; each collective is a slice with its phases nested:
// posted (waiting for the other ranks), matched (planning), local reduce (the engine's plan),
// network (inter-host; empty until the multi-host transport lands) and complete (waking the
// ranks). The engine renders the events from its own timestamps (native/engine/stats.cc) and
// keeps at most 8192 collectives between drains; this file drains it about once a second.
// The file is a JSON array, closed on close(); a coordinator that dies leaves it without the
// closing bracket, which both viewers accept.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { EngineTrace } from '../native/addon.js';

const PID = 1;

export class TraceWriter {
  private fd: number;
  private first = true;
  private readonly named = new Set<number>();
  count = 0;
  dropped = 0;
  constructor(
    readonly path: string,
    job: string,
  ) {
    this.fd = openSync(path, 'w', 0o644);
    writeSync(this.fd, '[\n');
    this.emit(JSON.stringify({ name: 'process_name', ph: 'M', pid: PID, args: { name: `onet job ${job}` } }));
  }

  add(batch: EngineTrace): void {
    if (this.fd < 0) return;
    const meta: string[] = [];
    for (const r of batch.ranks)
      if (!this.named.has(r)) {
        this.named.add(r);
        meta.push(
          JSON.stringify({ name: 'thread_name', ph: 'M', pid: PID, tid: r, args: { name: `rank ${r}` } }),
          JSON.stringify({ name: 'thread_sort_index', ph: 'M', pid: PID, tid: r, args: { sort_index: r } }),
        );
      }
    if (meta.length) this.emit(meta.join(',\n'));
    if (batch.dropped) {
      const ts = /"ts":([\d.]+)/.exec(batch.events)?.[1] ?? '0';
      this.emit(
        JSON.stringify({
          name: `${batch.dropped} collectives not traced (more than 8192 in one second)`,
          ph: 'i',
          s: 'g',
          ts: Number(ts),
          pid: PID,
          tid: 0,
        }),
      );
    }
    if (batch.events) this.emit(batch.events);
    this.count += batch.count;
    this.dropped += batch.dropped;
  }

  private emit(text: string): void {
    writeSync(this.fd, (this.first ? '' : ',\n') + text);
    this.first = false;
  }

  close(): void {
    if (this.fd < 0) return;
    writeSync(this.fd, '\n]\n');
    closeSync(this.fd);
    this.fd = -1;
  }
}
