// The dashboard: one EventSource on /events; every `state` event redraws the numbers, the
// tables and the topology, and appends a point to the two uPlot charts.
/* global uPlot */
(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_POINTS = 300;
  const COLORS = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#bc8cff', '#39c5cf', '#ff7b72', '#e3b341'];
  const fmt = (x, d = 1) =>
    x == null || !Number.isFinite(x)
      ? '–'
      : x >= 1e9
        ? (x / 1e9).toFixed(d) + ' G'
        : x >= 1e6
          ? (x / 1e6).toFixed(d) + ' M'
          : x >= 1e3
            ? (x / 1e3).toFixed(d) + ' k'
            : x.toFixed(d === 1 && x % 1 === 0 ? 0 : d);
  const us = (x) => (x == null ? '–' : x >= 1000 ? (x / 1000).toFixed(2) + ' ms' : x.toFixed(1) + ' µs');
  const esc = (s) =>
    String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

  // ---- charts ----
  const size = (el) => ({ width: Math.max(300, el.clientWidth - 4), height: 220 });
  const clock = (_u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString([], { hour12: false }));
  const axes = [
    { stroke: '#8a96a3', grid: { stroke: '#232b35' }, values: clock, space: 70 },
    {
      stroke: '#8a96a3',
      grid: { stroke: '#232b35' },
      size: 64,
      values: (_u, vals) => vals.map((v) => (v == null ? '' : v >= 1000 ? `${v / 1000}k` : `${+v.toPrecision(3)}`)),
    },
  ];
  let bwOps = [],
    bw = null,
    bwData = [[]];
  const lat = new uPlot(
    {
      ...size($('chart-lat')),
      scales: { y: { distr: 3 } },
      axes,
      series: [
        {},
        { label: 'p50', stroke: COLORS[1], width: 2 },
        { label: 'p95', stroke: COLORS[2], width: 2 },
        { label: 'p99', stroke: COLORS[3], width: 2 },
      ],
    },
    [[], [], [], []],
    $('chart-lat'),
  );
  const latData = [[], [], [], []];
  function makeBw() {
    if (bw) bw.destroy();
    bw = new uPlot(
      {
        ...size($('chart-bw')),
        axes,
        series: [{}, ...bwOps.map((op, i) => ({ label: op, stroke: COLORS[i % COLORS.length], width: 2 }))],
      },
      bwData,
      $('chart-bw'),
    );
  }
  makeBw();
  const push = (arr, v) => {
    arr.push(v);
    if (arr.length > MAX_POINTS) arr.shift();
  };

  function chart(s) {
    const t = s.t / 1000;
    for (const o of s.ops)
      if (!bwOps.includes(o.op)) {
        bwOps.push(o.op);
        bwData.push(bwData[0].map(() => null));
        makeBw();
      }
    push(bwData[0], t);
    bwOps.forEach((op, i) => {
      const o = s.ops.find((x) => x.op === op);
      push(bwData[i + 1], o ? o.busbw / 1e9 : null);
    });
    bw.setData(bwData);
    push(latData[0], t);
    push(latData[1], s.latency.p50Us);
    push(latData[2], s.latency.p95Us);
    push(latData[3], s.latency.p99Us);
    lat.setData(latData);
  }

  // ---- topology: the coordinator in the middle, ranks around it; edges coloured by state ----
  function topology(s) {
    const svg = $('topology'),
      cx = 180,
      cy = 150,
      R = 110,
      n = s.ranks.length;
    let h = '';
    s.ranks.forEach((r, i) => {
      const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2,
        x = cx + R * Math.cos(a),
        y = cy + R * Math.sin(a);
      const color = r.straggler
        ? 'var(--bad)'
        : r.state !== 'live'
          ? '#444c56'
          : r.waitingS > 1
            ? 'var(--warn)'
            : 'var(--ok)';
      h +=
        `<line x1="${cx}" y1="${cy}" x2="${x}" y2="${y}" stroke="${color}" ` +
        `stroke-width="${r.waitingS > 1 || r.straggler ? 3 : 1.5}" data-rank="${r.rank}"/>`;
      h +=
        `<circle cx="${x}" cy="${y}" r="17" fill="#171d24" stroke="${color}" stroke-width="2"/><text x="${x}" ` +
        `y="${y}">${r.rank}</text>`;
    });
    h += `<rect x="${cx - 52}" y="${cy - 18}" width="104" height="36" rx="6" fill="#1f2630" stroke="#58a6ff"/>`;
    h +=
      `<text x="${cx}" y="${cy - 5}">coordinator</text><text x="${cx}" y="${cy + 9}" ` +
      `class="muted">${esc(s.topology.hosts[0].name)}</text>`;
    svg.innerHTML = h;
    $('links').textContent = s.topology.links.length
      ? s.topology.links
          .map(
            (l) =>
              `${l.peer}: ${l.load == null ? '?' : Math.round(l.load * 100) + '% of probed'}${l.slow ? ' (slow)' : ''}`,
          )
          .join(' · ')
      : 'single host: inter-host links appear here, coloured by load, when the job spans hosts';
    if (s.wan) $('links').textContent = wanText(s.wan);
  }

  /** ONET_WAN links: "host 1: direct, rtt 3 ms, ↑ 12.3 MB/s ↓ 12.1 MB/s (native)" per link. */
  function wanText(w) {
    const mb = (b) => (b == null ? '?' : `${(b / 1e6).toFixed(1)} MB/s`);
    const links = w.links.map(
      (l) =>
        `host ${l.host}: ${l.kind}, rtt ${l.rttMs == null ? '?' : `${l.rttMs} ms`}, ` +
        `↑ ${mb(l.sentBps)} ↓ ${mb(l.receivedBps)} (${l.path})`,
    );
    return [`wan${w.autonat ? ` (AutoNAT: ${w.autonat.verdict})` : ''}`, ...links].join(' · ');
  }

  /** The ranks table's op cell: the pending op and whom it waits for, or a muted dash. */
  function opCell(r) {
    if (!r.op) return '<span class="muted">—</span>';
    return esc(r.op) + (r.waitingFor.length ? ` (for ${r.waitingFor.join(', ')})` : '');
  }

  function tables(s) {
    $('ranks').tBodies[0].innerHTML = s.ranks
      .map(
        (r) =>
          `<tr class="${r.straggler ? 'straggler' : ''} ${r.waitingS > 1 ? 'waiting' : ''}" data-rank="${r.rank}">\n` +
          `      <td>${r.rank}${r.straggler ? ' ⚠' : ''}</td><td>${esc(r.framework ?? '')}</td>` +
          `<td>${esc(r.state)}</td><td>${opCell(r)}</td>\n` +
          `      <td>${r.waitingS == null ? '' : r.waitingS.toFixed(1) + ' s'}</td>` +
          `<td>${r.lastOp ? esc(r.lastOp) : '<span class="muted">none yet</span>'}</td>\n` +
          `      <td>${r.lastAgoS == null ? '' : r.lastAgoS.toFixed(1) + ' s ago'}</td>` +
          `<td>${(r.lateShare * 100).toFixed(0)}%</td></tr>`,
      )
      .join('');
    const win = new Map(s.window.ops.map((o) => [o.op, o]));
    const ops = s.ops.length ? s.ops : s.window.ops.map((o) => ({ ...o, callsPerS: 0 }));
    $('ops').tBodies[0].innerHTML = ops
      .map(
        (o) =>
          `<tr data-op="${esc(o.op)}"><td>${esc(o.op)}</td><td>${fmt(o.callsPerS)}</td>` +
          `<td>${(o.busbw / 1e9).toFixed(3)}</td>\n` +
          `      <td>${(o.algbw / 1e9).toFixed(3)}</td><td>${us(o.p50Us)}</td><td>${us(o.p95Us)}</td>` +
          `<td>${us(o.p99Us)}</td><td>${us(win.get(o.op)?.p99Us)}</td></tr>`,
      )
      .join('');
    $('errors').innerHTML = s.errors.length
      ? s.errors
          .map(
            (e) =>
              `<li><b>${esc(e.code)}</b> rank ${e.ranks.join(', ')} · ` +
              `${new Date(e.t).toLocaleTimeString()}<br><span class="muted">${esc(e.message)}</span></li>`,
          )
          .join('')
      : '<li class="muted">none</li>';
    $('alerts').innerHTML = [
      ...s.ranks
        .filter((r) => r.straggler)
        .map(
          (r) =>
            `<div class="alert" data-straggler="${r.rank}">Straggler: rank ${r.rank} arrived last at ` +
            `${(r.lateShare * 100).toFixed(0)}% of the last ${s.window.stragglerWindow?.filled ?? 0} ` +
            `collectives</div>`,
        ),
      ...s.links
        .filter((l) => l.slow)
        .map(
          (l) =>
            `<div class="alert">Slow link to ${esc(l.peer)}: ${(l.measuredBps / 1e9).toFixed(2)} of ` +
            `${(l.probedBps / 1e9).toFixed(2)} GB/s probed</div>`,
        ),
    ].join('');
  }

  function render(s) {
    $('job').textContent = `job ${s.job} · world ${s.world}`;
    $('calls-total').textContent = s.totals.calls.toLocaleString('en-US');
    $('calls-rate').textContent = fmt(s.totals.callsPerS);
    $('bytes-rate').textContent = fmt(s.totals.bytesPerS) + 'B';
    $('latency').textContent = `${us(s.latency.p50Us)} / ${us(s.latency.p99Us)}`;
    $('queue').textContent = String(s.totals.queueDepth);
    $('errors-total').textContent = String(s.totals.errors);
    $('host').textContent = s.host
      ? `${Math.round(s.host.cpu * 100)}% / ${(s.host.memUsed / 2 ** 30).toFixed(1)} GiB` +
        (s.host.gpus.length ? ` · GPU ${s.host.gpus.map((g) => Math.round(g.util * 100) + '%').join(' ')}` : '')
      : '–';
    chart(s);
    topology(s);
    tables(s);
    $('updated').textContent = new Date(s.t).toLocaleTimeString();
  }

  const es = new EventSource('/events');
  es.addEventListener('state', (ev) => {
    $('conn').textContent = 'live';
    $('conn').className = 'conn live';
    render(JSON.parse(ev.data));
  });
  es.onerror = () => {
    $('conn').textContent = 'disconnected — retrying';
    $('conn').className = 'conn down';
  };
  window.addEventListener('resize', () => {
    bw.setSize(size($('chart-bw')));
    lat.setSize(size($('chart-lat')));
  });
})();
