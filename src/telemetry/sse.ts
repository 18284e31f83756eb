// Server-Sent Events: the dashboard's live feed. One hub per coordinator; every client gets
// each state update, plus a comment line every 15 s so proxies keep the connection open.
import type { IncomingMessage, ServerResponse } from 'node:http';

export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly beat: NodeJS.Timeout;
  constructor() {
    this.beat = setInterval(() => {
      for (const c of this.clients) c.write(': keep-alive\n\n');
    }, 15000);
    this.beat.unref();
  }
  get size(): number {
    return this.clients.size;
  }

  /** Take over a GET request as an event stream; `first` is sent at once. */
  add(req: IncomingMessage, res: ServerResponse, first?: { event: string; data: unknown }): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    if (first) res.write(frame(first.event, first.data));
    this.clients.add(res);
    req.on('close', () => this.clients.delete(res));
  }

  send(event: string, data: unknown): void {
    if (!this.clients.size) return;
    const f = frame(event, data);
    for (const c of this.clients) c.write(f);
  }

  close(): void {
    clearInterval(this.beat);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
