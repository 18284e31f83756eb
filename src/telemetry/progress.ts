// Progress for long CLI work (`onet bench`, `onet run`): a redrawn bar on a terminal, plain
// lines otherwise (logs and CI see one line per step, or one every `plainEveryMs`).

export interface ProgressOptions {
  label: string;
  total?: number;
  stream?: NodeJS.WriteStream;
  tty?: boolean; // default: stream.isTTY
  plainEveryMs?: number; // non-TTY: at most one line this often (0 = every update)
  width?: number;
}

export function bar(done: number, total: number, width: number): string {
  const f = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const full = Math.floor(f * width);
  const part = ' ▏▎▍▌▋▊▉'[Math.floor((f * width - full) * 8)] ?? '';
  return '█'.repeat(full) + (full < width ? part : '') + ' '.repeat(Math.max(0, width - full - 1));
}

export class Progress {
  readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  private line = '';
  private lastDraw = 0;
  private lastPlain = 0;
  private lastText = '';
  private plainDone = -1;
  private done_ = 0;
  private detail = '';
  private readonly t0 = Date.now();
  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.tty = o.tty ?? !!this.stream.isTTY;
  }

  update(done: number, detail = '', force = false): void {
    this.done_ = done;
    this.detail = detail;
    const now = Date.now();
    if (this.tty) {
      if (!force && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      this.draw();
    } else {
      const text = this.text(false);
      if (text === this.lastText || (!force && now - this.lastPlain < (this.o.plainEveryMs ?? 0))) return;
      this.lastPlain = now;
      this.lastText = text;
      this.plainDone = this.done_;
      this.stream.write(text + '\n');
    }
  }

  /** Print a line of other output without tearing the bar. */
  log(text: string, to: NodeJS.WritableStream = process.stdout): void {
    if (this.tty && this.line) this.stream.write('\r\x1b[2K');
    to.write(text.endsWith('\n') ? text : text + '\n');
    if (this.tty && this.line) this.draw();
  }

  finish(detail?: string): void {
    if (detail !== undefined) this.detail = detail;
    if (this.tty) {
      this.draw();
      this.stream.write('\n');
      this.line = '';
    } else if (this.plainDone !== this.done_ || detail !== undefined) this.update(this.done_, this.detail, true);
  }

  private text(tty: boolean): string {
    const secs = ((Date.now() - this.t0) / 1000).toFixed(0);
    const count = this.o.total ? `${this.done_}/${this.o.total}` : `${this.done_}`;
    const b = tty && this.o.total ? ` ${bar(this.done_, this.o.total, this.o.width ?? 24)}` : '';
    return `${this.o.label}${b} ${count}${this.detail ? ` ${this.detail}` : ''} (${secs} s)`;
  }

  private draw(): void {
    const cols = this.stream.columns ?? 100;
    this.line = this.text(true).slice(0, cols - 1);
    this.stream.write('\r\x1b[2K' + this.line);
  }
}
