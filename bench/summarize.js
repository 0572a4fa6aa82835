'use strict';
// Reads the results bench/run.sh wrote (<case>-<server>.json) and prints a
// Markdown summary: the machine, one table per kind of case with presenced
// beside the Node.js peer and their ratio, and the targets of BENCHMARKS.md,
// each met or missed. Writes latency.dat (the max scenario's steps, for
// latency.gp) next to the results.
//   node bench/summarize.js bench/results > bench/results/summary.md

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SERVERS = ['presenced', 'node-ws'];

// Cores other programs used during a run's measured time (its steps' mean).
function noise(r) {
  const steps = r.steps || [r];
  const v = steps.map((s) => s.other_programs_cores).filter((x) => typeof x === 'number');
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
}

// The run of a case that other programs disturbed least.
function quietest(runs) {
  return runs.reduce((best, r) => (noise(r) < noise(best) ? r : best));
}

function load(dir) {
  const results = {};
  for (const file of fs.readdirSync(dir)) {
    const m = /^(.+)-(presenced|node-ws)\.json$/.exec(file);
    if (!m) continue;
    const runs = fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    if (runs.length) (results[m[1]] ||= {})[m[2]] = quietest(runs);
  }
  return results;
}

function fmt(v, digits = 3) {
  if (v === undefined || v === null || Number.isNaN(v)) return 'n/a';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(digits)).toString();
}

function ratio(a, b) {
  return a && b ? `${fmt(a / b, 3)}x` : 'n/a';
}

function machine() {
  const cpu = os.cpus();
  return `${cpu.length} cores, ${cpu[0].model}, Linux ${os.release()}, ` +
    `${Math.round(os.totalmem() / 2 ** 30)} GiB, Node.js ${process.version}`;
}

function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function pair(results, name) {
  const r = results[name] || {};
  return SERVERS.map((s) => r[s]);
}

// ---- tables ------------------------------------------------------------------

function idleTable(results) {
  const [p, n] = pair(results, 'idle');
  if (!p && !n) return '';
  const row = (label, f, better) => [label, fmt(p && f(p)), fmt(n && f(n)), ratio(...(better === 'low' ? [n && f(n), p && f(p)] : [p && f(p), n && f(n)]))];
  return table(['idle', 'presenced', 'node-ws', 'advantage'], [
    row('connections held', (r) => r.connections.admitted),
    row('connects/s', (r) => r.connections.connects_per_s),
    row('join p99 (ms)', (r) => r.connections.join_ms.p99, 'low'),
    row('server RSS (KiB)', (r) => r.server_rss_kib, 'low'),
    row('server RSS per connection (bytes)', (r) => r.server_rss_bytes_per_connection, 'low'),
    row('idle server CPU (cores)', (r) => r.idle_server_cpu_util, 'low'),
  ]);
}

const FANOUT_COLUMNS = ['case', 'server', 'deliveries/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms',
  'server cores', 'deliveries per server CPU-s', 'server ns/delivery', 'of which user ns', 'generator cores',
  'others cores', 'lost final', 'gen.-limited'];

function fanoutRow(name, r) {
  const l = r.latency_ms;
  return [name, r.server, fmt(r.deliveries_per_s), fmt(l.p50), fmt(l.p99), fmt(l.p999), fmt(l.max),
    fmt(r.server_cpu_util), fmt(r.deliveries_per_server_cpu_s), fmt(r.server_cpu_ns_per_delivery),
    fmt(r.server_user_ns_per_delivery), fmt(r.generator_cpu_s / r.window_s), fmt(r.other_programs_cores), String(r.lost_final_states),
    r.generator_limited ? 'yes' : 'no'];
}

function fanoutTable(results, names) {
  const rows = [];
  for (const name of names) for (const r of pair(results, name)) if (r) rows.push(fanoutRow(name, r));
  return rows.length ? table(FANOUT_COLUMNS, rows) : '';
}

function ratioTable(results, names) {
  const rows = [];
  for (const name of names) {
    const [p, n] = pair(results, name);
    if (!p || !n) continue;
    rows.push([name, ratio(p.deliveries_per_server_cpu_s, n.deliveries_per_server_cpu_s),
      ratio(n.latency_ms.p99, p.latency_ms.p99), ratio(p.deliveries_per_s, n.deliveries_per_s)]);
  }
  return rows.length ? table(['case', 'deliveries per server CPU-s', 'p99 latency (lower is better)', 'deliveries/s'], rows) : '';
}

function churnTable(results) {
  const rows = [];
  for (const r of pair(results, 'churn')) {
    if (!r) continue;
    const c = r.churn;
    rows.push([r.server, fmt(c.opened_per_s), String(c.failed), fmt(c.join_ms.p99), fmt(r.latency_ms.p99),
      String(r.lost_final_states), String(c.ghosts), String(c.missing_members), fmt(c.ghost_settle_ms)]);
  }
  return rows.length ? table(['server', 'joins+leaves/s', 'failed', 'join p99 ms', 'update p99 ms',
    'lost final', 'ghosts', 'missing', 'settled after ms'], rows) : '';
}

function maxTable(results) {
  const rows = [];
  for (const r of pair(results, 'max')) {
    if (!r) continue;
    for (const s of r.steps) {
      rows.push([r.server, fmt(s.rate_per_member), fmt(s.deliveries_per_s), fmt(s.latency_ms.p50),
        fmt(s.latency_ms.p99), fmt(s.server_cpu_util), fmt(s.other_programs_cores),
        s.generator_limited ? 'yes' : 'no', s.pass ? 'pass' : 'fail']);
    }
  }
  return rows.length ? table(['server', 'updates/s per member', 'deliveries/s', 'p50 ms', 'p99 ms',
    'server cores', 'others cores', 'gen.-limited', `p99 < bound`], rows) : '';
}

// ---- targets -----------------------------------------------------------------

function verdict(ok) {
  return ok === undefined ? 'not measured' : ok ? 'met' : 'missed';
}

function targetRows(results) {
  const get = (name, server) => (results[name] || {})[server];
  const rows = [];
  const f1 = get('fanout-1m', 'presenced');
  rows.push(['>= 1,000,000 deliveries/s, 1 room of 1,000, p99 < 50 ms',
    f1 ? `${fmt(f1.deliveries_per_s)}/s, p99 ${fmt(f1.latency_ms.p99)} ms` : 'n/a',
    verdict(f1 && f1.deliveries_per_s >= 1e6 && f1.latency_ms.p99 < 50)]);
  for (const [name, what] of [['fanout-100k', '1 room of 1,000'], ['fanout-100k-rooms', '10 rooms of 100']]) {
    const f0 = get(name, 'presenced');
    rows.push([`p99 < 5 ms at 100,000 deliveries/s (${what})`, f0 ? `p99 ${fmt(f0.latency_ms.p99)} ms` : 'n/a',
      verdict(f0 && f0.latency_ms.p99 < 5)]);
  }
  const ip = get('idle', 'presenced');
  const inode = get('idle', 'node-ws');
  rows.push(['idle connections to the fd limit, <= 2 KiB RSS each',
    ip ? `${ip.connections.admitted} held, ${fmt(ip.server_rss_bytes_per_connection)} B each` : 'n/a',
    verdict(ip && ip.connections.admitted >= 19900 && ip.server_rss_bytes_per_connection <= 2048)]);
  const mem = ip && inode ? inode.server_rss_bytes_per_connection / ip.server_rss_bytes_per_connection : undefined;
  rows.push(['>= 5x less memory per connection than node-ws', mem ? `${fmt(mem)}x` : 'n/a', verdict(mem && mem >= 5)]);
  for (const name of ['fanout-100k', 'fanout-1m']) {
    const [p, n] = pair(results, name);
    const r = p && n ? p.deliveries_per_server_cpu_s / n.deliveries_per_server_cpu_s : undefined;
    rows.push([`>= 10x deliveries per server CPU-s than node-ws (${name})`, r ? `${fmt(r)}x` : 'n/a', verdict(r && r >= 10)]);
  }
  const top = pair(results, 'max').map((r) => r && r.steps.find((st) => st.deliveries_per_s === r.max_deliveries_per_s));
  const cap = top[0] && top[1] ? top[0].deliveries_per_server_cpu_s / top[1].deliveries_per_server_cpu_s : undefined;
  rows.push(['>= 10x deliveries per server CPU-s than node-ws (each at its highest passing max step)',
    cap ? `${fmt(cap)}x` : 'n/a', verdict(cap && cap >= 10)]);
  const flat = ['flat-100', 'flat-1000', 'flat-10000'].map((n) => get(n, 'presenced')).filter(Boolean);
  const ns = flat.map((r) => r.server_cpu_ns_per_delivery);
  const spread = ns.length === 3 ? Math.max(...ns) / Math.min(...ns) : undefined;
  rows.push(['CPU per delivery flat from 100 to 10,000 members (max/min <= 1.25)',
    ns.length ? `${ns.map((v) => fmt(v)).join(' / ')} ns` : 'n/a', verdict(spread && spread <= 1.25)]);
  return rows;
}

// ---- the plot's data -------------------------------------------------------------

function writeLatencyData(dir, results) {
  const blocks = [];
  for (const r of pair(results, 'max')) {
    if (!r) continue;
    const lines = [`# ${r.server}: deliveries/s p50_ms p99_ms p999_ms`];
    for (const s of r.steps) lines.push(`${s.deliveries_per_s} ${s.latency_ms.p50} ${s.latency_ms.p99} ${s.latency_ms.p999}`);
    blocks.push(lines.join('\n'));
  }
  fs.writeFileSync(path.join(dir, 'latency.dat'), blocks.length ? `${blocks.join('\n\n\n')}\n` : '');
}

function main() {
  const dir = process.argv[2] || 'bench/results';
  const results = load(dir);
  writeLatencyData(dir, results);
  const fanouts = ['fanout-100k', 'fanout-100k-rooms', 'fanout-1m', 'flat-100', 'flat-1000', 'flat-10000'];
  const parts = [
    `Machine: ${machine()}.`,
    '### Targets', table(['target', 'measured (presenced)', 'verdict'], targetRows(results)),
    '### Idle connections', idleTable(results),
    '### Fan-out', fanoutTable(results, fanouts),
    '### presenced against node-ws', ratioTable(results, fanouts),
    '### Churn', churnTable(results),
    '### Highest rate with p99 under the bound (max)', maxTable(results),
  ];
  console.log(parts.filter((p) => p !== '').join('\n\n'));
}

main();
