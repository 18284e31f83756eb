// Human units for the scheduler's text output.
export function fmtBytes(n: number | null): string {
  if (n === null) return '∞';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0,
    x = n;
  while (x >= 1024 && i < units.length - 1 && Number.isInteger(x / 1024)) {
    x /= 1024;
    i++;
  }
  if (i > 0 || n < 1024) return `${x} ${units[i]}`;
  let j = 0,
    y = n; // not a round size: exact bytes, then the nearest unit
  while (y >= 1024 && j < units.length - 1) {
    y /= 1024;
    j++;
  }
  return `${n} B (${y.toPrecision(3)} ${units[j]})`;
}
export function fmtUs(us: number): string {
  if (us < 1) return `${us.toFixed(2)} µs`;
  if (us < 1000) return `${us.toPrecision(3)} µs`;
  if (us < 1e6) return `${(us / 1e3).toPrecision(3)} ms`;
  return `${(us / 1e6).toPrecision(3)} s`;
}
export function fmtGBs(x: number): string {
  return `${x.toPrecision(3)} GB/s (${(x * 8).toPrecision(3)} Gbit/s)`;
}
/** Left-aligned columns; the first row is the header. */
export function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
