'use strict';
// Summarises what bench/cluster.sh wrote: the paired fan-out rounds (one
// node against two, and one node without Redis where it ran), with the
// issue's targets, and the churn rates. Prints Markdown.
//   node bench/cluster-summary.js bench/results/cluster

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dir = process.argv[2] || 'bench/results/cluster';

function load(file) {
  const p = path.join(dir, file);
  if (!fs.existsSync(p)) return [];
  return fs.readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function fmt(v, digits = 3) {
  if (v === undefined || v === null || Number.isNaN(v)) return 'n/a';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(digits)).toString();
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// "median (min-max)"
function spread(v, digits = 3) {
  if (!v.length) return 'n/a';
  return `${fmt(median(v), digits)} (${fmt(Math.min(...v), digits)}-${fmt(Math.max(...v), digits)})`;
}

function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const cores = (r, f) => r[f] / r.window_s;

// ---- fan-out -----------------------------------------------------------------

const FIELDS = [
  ['deliveries/s', (r) => r.deliveries_per_s],
  ['server CPU ns per delivery (all nodes)', (r) => r.server_cpu_ns_per_delivery],
  ['of which user, ns', (r) => r.server_user_ns_per_delivery],
  ['p50 ms', (r) => r.latency_ms.p50],
  ['p99 ms', (r) => r.latency_ms.p99],
  ['p99.9 ms', (r) => r.latency_ms.p999],
  ['server cores (all nodes)', (r) => r.server_cpu_util],
  ['Redis cores', (r) => r.redis_cpu_util],
  ['Redis ns per delivery', (r) => r.redis_ns_per_delivery],
  ['generator cores', (r) => cores(r, 'generator_cpu_s')],
  ['generator send lag max, ms', (r) => r.send_lag_max_ms],
  ['other programs, cores', (r) => r.other_programs_cores],
];

function fanout() {
  const v = { one: load('one.json'), two: load('two.json'), solo: load('solo.json') };
  const names = Object.keys(v).filter((k) => v[k].length);
  if (!names.length) return '';
  const out = ['## Fan-out: one room of 1,000 members', ''];
  const rows = FIELDS.map(([label, f]) => [label, ...names.map((n) => spread(v[n].map(f).filter((x) => typeof x === 'number')))]);
  rows.push(['runs marked generator-limited', ...names.map((n) => `${v[n].filter((r) => r.generator_limited).length} of ${v[n].length}`)]);
  rows.push(['lost final states', ...names.map((n) => v[n].reduce((a, r) => a + r.lost_final_states, 0))]);
  out.push('Medians over the rounds (range in brackets):', '');
  out.push(table(['', ...names], rows), '');

  const n = Math.min(v.one.length, v.two.length);
  if (n) {
    const cpu = [], dp99 = [], rows2 = [];
    for (let i = 0; i < n; i++) {
      const a = v.one[i], b = v.two[i];
      const c = b.server_cpu_ns_per_delivery / a.server_cpu_ns_per_delivery;
      const d = b.latency_ms.p99 - a.latency_ms.p99;
      cpu.push(c);
      dp99.push(d);
      rows2.push([i + 1, fmt(a.server_cpu_ns_per_delivery), fmt(b.server_cpu_ns_per_delivery), fmt(c),
        fmt(a.latency_ms.p99), fmt(b.latency_ms.p99), fmt(d),
        (b.server_node_cpu_util || []).map((x) => fmt(x, 2)).join(' + '),
        fmt(b.redis_cpu_util, 2),
        [a, b].map((r) => (r.generator_limited ? 'yes' : 'no')).join(' / '),
        [a, b].map((r) => fmt(r.other_programs_cores, 2)).join(' / ')]);
    }
    out.push('Paired rounds, one node against two:', '');
    out.push(table(['round', 'one: ns/delivery', 'two: ns/delivery', 'two / one', 'one: p99 ms', 'two: p99 ms',
      'two - one, ms', 'two: cores per node', 'two: Redis cores', 'generator-limited (one / two)', 'others (one / two)'], rows2), '');
    const cpuMed = median(cpu), dMed = median(dp99);
    out.push(`- CPU per delivery, two nodes / one node: median ${fmt(cpuMed)} (${fmt(Math.min(...cpu))}-${fmt(Math.max(...cpu))}), ` +
      `${cpu.filter((x) => x <= 1.2).length} of ${n} rounds at most 1.2: target (at most 1.2x) **${cpuMed <= 1.2 ? 'met' : 'missed'}** by the median.`);
    out.push(`- p99, two nodes - one node: median ${fmt(dMed)} ms (${fmt(Math.min(...dp99))} to ${fmt(Math.max(...dp99))}), ` +
      `${dp99.filter((x) => x <= 2).length} of ${n} rounds at most +2 ms: target (at most 2 ms above) **${dMed <= 2 ? 'met' : 'missed'}** by the median.`);
  }
  const m = Math.min(v.one.length, v.solo.length);
  if (m) {
    const r = [];
    for (let i = 0; i < m; i++) r.push(v.one[i].server_cpu_ns_per_delivery / v.solo[i].server_cpu_ns_per_delivery);
    out.push(`- One node with --redis / without (solo), CPU per delivery: median ${fmt(median(r))} (${fmt(Math.min(...r))}-${fmt(Math.max(...r))}), ${m} rounds.`);
  }
  return out.join('\n') + '\n';
}

// ---- churn ---------------------------------------------------------------------

// A rate is sustained when every churner got in at the rate asked, joins
// stayed under a second at p99, and neither ghost check found anything.
function sustained(r) {
  const c = r.churn;
  return c.opened_per_s >= 0.98 * c.target_per_s && c.failed === 0 && c.join_ms.p99 < 1000 &&
    c.ghosts === 0 && c.missing_members === 0 && (!c.api_check || c.api_check.clean) && r.errors === 0;
}

function churn() {
  const files = fs.readdirSync(dir).filter((f) => /^churn-\d+n\.json$/.test(f)).sort();
  if (!files.length) return '';
  const out = ['## Churn', ''];
  for (const f of files) {
    const runs = load(f).sort((a, b) => a.churn.target_per_s - b.churn.target_per_s);
    const nodes = runs[0].config.nodes;
    out.push(`${nodes} node(s), ${runs[0].config.rooms} rooms of ${runs[0].config.members_per_room} steady members at ${runs[0].config.rate_per_member} updates/s:`, '');
    out.push(table(['joins/s asked', 'opened/s', 'failed', 'join p50 ms', 'join p99 ms', 'update p99 ms',
      'ghosts (observers)', 'missing', '/api/rooms', 'ghost check settled, ms', 'server cores', 'Redis cores',
      'generator cores', 'others', 'generator-limited', 'sustained'],
    runs.map((r) => {
      const c = r.churn, a = c.api_check;
      return [fmt(c.target_per_s), fmt(c.opened_per_s), c.failed, fmt(c.join_ms.p50), fmt(c.join_ms.p99),
        fmt(r.latency_ms.p99), c.ghosts, c.missing_members,
        a ? (a.clean ? `exact (${a.requests} requests)` : `NOT exact: ${a.ghosts} ghosts, ${a.missing_members} missing, ${a.rooms_wrong} rooms wrong, ${a.errors} errors`) : 'n/a',
        c.ghost_settle_ms, fmt(r.server_cpu_util, 2), fmt(r.redis_cpu_util, 2), fmt(cores(r, 'generator_cpu_s'), 2),
        fmt(r.other_programs_cores, 2), r.generator_limited ? 'yes' : 'no', sustained(r) ? 'yes' : 'no'];
    })), '');
    const ok = runs.filter(sustained).map((r) => r.churn.target_per_s);
    out.push(`- Highest rate sustained with no ghost: ${ok.length ? fmt(Math.max(...ok)) + ' joins/s' : 'none'}.`, '');
  }
  return out.join('\n');
}

const cpu = os.cpus();
console.log(`# Cluster benchmarks\n\n${cpu.length} cores, ${cpu[0].model}, Linux ${os.release()}, ` +
  `${Math.round(os.totalmem() / 2 ** 30)} GiB. Generated by bench/cluster-summary.js from ${dir}.\n`);
console.log(fanout());
console.log(churn());
