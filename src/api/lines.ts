// Split a child's output stream into lines for the launcher's `log` events. A line with no
// newline yet is held back; one longer than MAX_LINE is cut so a rank printing a progress
// bar with `\r` and no `\n` cannot grow the buffer without bound.

const MAX_LINE = 1 << 20;

/** Call `onLine` for every line of `stream` (without its `\n`, or `\r\n`), then `onEnd`. */
export function splitLines(
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
  onEnd: () => void = () => {},
): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let start = 0,
      i: number;
    while ((i = buf.indexOf('\n', start)) >= 0) {
      onLine(buf.slice(start, i > start && buf[i - 1] === '\r' ? i - 1 : i));
      start = i + 1;
    }
    buf = buf.slice(start);
    while (buf.length > MAX_LINE) {
      onLine(buf.slice(0, MAX_LINE));
      buf = buf.slice(MAX_LINE);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
    buf = '';
    onEnd();
  });
}
