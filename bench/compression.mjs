// Compression inside the collective (docs/compression.md), measured over shaped links: H hosts on network
// namespaces (src/testing/netns.ts), every host's egress shaped with tc tbf to --rate, the same
// torch.distributed allreduce sweep (bench/multihost.mjs, torchrun in every namespace) run for gloo and for
// opennetworks with ONET_COMPRESSION = off, each codec and auto, one after the other in this run. Prints the
// time per call and every variant's throughput relative to opennetworks off.
//
//   sudo node bench/compression.mjs                                  # 3 hosts × 2 ranks, 100mbit, 64 MiB
//   sudo node bench/compression.mjs --rate 1gbit --codecs off,bf16,int8,topk:0.01,auto --json out.json
//   sudo node bench/compression.mjs --rate 1gbit --sizes 16MiB --ranks-per-host 1 --repeat 1   # quicker
//
// Delay: this kernel has no sch_netem, so tc can only shape the rate (tbf). A round-trip time can be
// emulated in user space by the fault proxy (src/testing/fault_proxy.ts, `delayMs` per chunk) between
// loopback hosts; that path is not wired into this bench yet (see docs/compression.md "Missing").
// Lossy codecs change the result, so bench/multihost.mjs's correctness counter ("wrong") is reported, not
// treated as a failure, for them. Needs root, a built addon and dist/, and .venv with torch.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE =
  'usage: sudo node bench/compression.mjs [--hosts 3] [--ranks-per-host 2] [--rate 100mbit] [--sizes 64MiB]\n' +
  '       [--codecs off,bf16,fp16,int8,topk:0.01,zstd,lz4,auto] [--no-gloo] [--repeat 1] [--json FILE]';

function parseArgs(argv) {
  const o = {
    hosts: '3',
    rph: '2',
    rate: '100mbit',
    sizes: '64MiB',
    codecs: 'off,bf16,fp16,int8,topk:0.01,zstd,lz4,auto'.split(','),
    gloo: true,
    repeat: '1',
    json: '',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i],
      v = () => {
        if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${USAGE}`);
        return argv[++i];
      };
    if (a === '--hosts') o.hosts = v();
    else if (a === '--ranks-per-host') o.rph = v();
    else if (a === '--rate') o.rate = v();
    else if (a === '--sizes') o.sizes = v();
    else if (a === '--codecs') o.codecs = v().split(',');
    else if (a === '--no-gloo') o.gloo = false;
    else if (a === '--repeat') o.repeat = v();
    else if (a === '--json') o.json = v();
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

/** One bench/multihost.mjs run; its JSON rows. */
function runOne(o, backend, codec) {
  const out = join(tmpdir(), `onet-zbench-${process.pid}-${backend}-${codec ?? 'x'}.json`.replace(/[:%]/g, '_'));
  const args = [join(ROOT, 'bench/multihost.mjs'), '--hosts', o.hosts, '--ranks-per-host', o.rph, '--rate', o.rate];
  args.push('--sizes', o.sizes, '--repeat', o.repeat, '--backends', backend, '--json', out, '--no-probe');
  if (codec) args.push('--env', `ONET_COMPRESSION=${codec}`);
  try {
    execFileSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 1_800_000 });
  } catch (e) {
    // exit 1 = wrong elements, expected of lossy codecs; anything else has no JSON to read
    if (e.status !== 1) throw e;
  }
  const j = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(out, { force: true });
  return j.rows;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const variants = [];
  if (o.gloo) variants.push({ name: 'gloo', backend: 'gloo' });
  for (const c of o.codecs) variants.push({ name: c, backend: 'opennetworks', codec: c });
  const results = variants.map((v) => ({ ...v, rows: runOne(o, v.backend, v.codec) }));
  const off = results.find((r) => r.name === 'off');
  console.log(`\n# compression bench: ${o.hosts} hosts × ${o.rph} ranks, egress ${o.rate} (tc tbf), allreduce f32`);
  console.log('| variant | size | time/call | algbw GB/s | × off | wrong elements |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  const table = [];
  for (const r of results)
    for (const row of r.rows) {
      const m = row[r.backend];
      if (!m) continue;
      const base = off?.rows.find((x) => x.size === row.size)?.opennetworks;
      const ratio = base ? base.timeUs / m.timeUs : NaN;
      table.push({
        variant: r.name,
        size: row.size,
        timeUs: m.timeUs,
        algbwGBs: m.algbwGBs,
        vsOff: ratio,
        wrong: m.wrong,
      });
      console.log(
        `| ${r.name} | ${(row.size / 2 ** 20).toFixed(0)} MiB | ${(m.timeUs / 1e3).toFixed(1)} ms | ` +
          `${m.algbwGBs.toFixed(3)} | ${ratio.toFixed(2)} | ${m.wrong} |`,
      );
    }
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ options: o, table }, null, 2)}\n`);
}

main();
