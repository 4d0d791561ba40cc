// The bus tab: broker summary, operator alerts, dead letters, the queue table with sparklines and
// the live communication graph (SVG). Rendered from the Overview, only while the tab is visible.

import { store, on, now } from './store.js';
import { $, esc, fmtCount, fmtRate, fmtBytes, fmtAgo, fmtTime, fmtDateTime, fmtDuration, sparkline, setHTML, collator } from './util.js';

const QUEUE_COLS = [
  { key: 'name', label: 'Queue', cls: 'qname', text: true },
  { key: 'kind', label: 'Kind', text: true },
  { key: 'owner', label: 'Owner', text: true },
  { key: 'queue_type', label: 'Type', text: true },
  { key: 'ready', label: 'Ready', num: true, fmt: fmtCount },
  { key: 'unacked', label: 'Unacked', num: true, fmt: fmtCount },
  { key: 'consumers', label: 'Consumers', num: true, fmt: fmtCount },
  { key: 'publish_per_s', label: 'Publish/s', num: true, fmt: fmtRate },
  { key: 'deliver_per_s', label: 'Deliver/s', num: true, fmt: fmtRate },
  { key: 'ack_per_s', label: 'Ack/s', num: true, fmt: fmtRate },
  { key: 'redeliver_per_s', label: 'Redeliver/s', num: true, fmt: fmtRate },
  { key: 'depth_history', label: 'Depth', spark: true },
  { key: 'rate_history', label: 'Publish rate', spark: true },
];

let sortKey = 'name';
let sortDir = 1;

export function initBus() {
  on('overview', () => {
    if (store.activeTab === 'bus' && !document.hidden) renderBus();
  });
  on('tab', (tab) => tab === 'bus' && renderBus());
  document.addEventListener('visibilitychange', () => !document.hidden && store.activeTab === 'bus' && renderBus());

  // queue table: sort by header, filter
  const thead = $('#queue-table thead');
  thead.innerHTML =
    '<tr>' +
    QUEUE_COLS.map(
      (c) =>
        `<th data-sort="${c.key}" class="${c.num ? 'num' : ''}${c.spark ? ' spark-col' : ''}" ${c.spark ? '' : 'tabindex="0"'}>${esc(c.label)}</th>`,
    ).join('') +
    '</tr>';
  const onSort = (e) => {
    const th = e.target.closest('th[data-sort]');
    if (!th) return;
    const col = QUEUE_COLS.find((c) => c.key === th.dataset.sort);
    if (!col || col.spark) return;
    if (sortKey === col.key) sortDir = -sortDir;
    else {
      sortKey = col.key;
      sortDir = col.num ? -1 : 1;
    }
    renderQueues();
  };
  thead.addEventListener('click', onSort);
  thead.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && onSort(e));
  let t = 0;
  $('#queue-filter').addEventListener('input', () => {
    clearTimeout(t);
    t = setTimeout(renderQueues, 80);
  });

  initGraphHover();
}

function renderBus() {
  const o = store.overview;
  if (!o) return;
  renderBroker(o);
  renderOperatorAlerts(o);
  renderDeadLetters(o);
  renderQueues();
  renderGraph(o);
  $('#bus-updated').textContent = `updated ${fmtTime(o.time_ms)}`;
}

/** Subjects of active operator alerts (queue names among them). */
function alertedSubjects(o) {
  const s = new Map();
  for (const a of o.operator_alerts || []) {
    if (a.cleared_ms != null) continue;
    if (!s.has(a.subject)) s.set(a.subject, []);
    s.get(a.subject).push(a);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Broker

function tile(label, value, sub = '', cls = '') {
  return `<div class="tile ${cls}"><div class="tl-label">${label}</div><div class="tl-value">${value}</div>${
    sub ? `<div class="tl-sub">${sub}</div>` : ''
  }</div>`;
}

function meter(used, limit, invert = false) {
  if (used == null || limit == null || limit <= 0) return '';
  const f = Math.min(1, used / limit);
  const level = invert ? (f > 0.8 ? 'bad' : f > 0.5 ? 'warn' : 'ok') : f > 0.9 ? 'bad' : f > 0.7 ? 'warn' : 'ok';
  return `<div class="meter ${level}"><span style="width:${(f * 100).toFixed(1)}%"></span></div>`;
}

function renderBroker(o) {
  const b = o.broker || {};
  const reach = b.reachable
    ? `<span class="badge-ok">reachable</span>`
    : `<span class="badge-bad">unreachable</span>`;
  const alarms = (b.alarms || []).length
    ? b.alarms.map((a) => `<span class="badge-bad">${esc(a)}</span>`).join(' ')
    : '<span class="muted">none</span>';
  const churn = (open, close) => `+${fmtRate(open)} / −${fmtRate(close)} per s`;
  let mem = '–';
  let memSub = '';
  if (b.mem_used_bytes != null) {
    mem = fmtBytes(b.mem_used_bytes);
    memSub = b.mem_limit_bytes != null ? `of ${fmtBytes(b.mem_limit_bytes)} limit${meter(b.mem_used_bytes, b.mem_limit_bytes)}` : '';
  }
  let disk = '–';
  let diskSub = '';
  if (b.disk_free_bytes != null) {
    disk = fmtBytes(b.disk_free_bytes);
    diskSub = b.disk_free_limit_bytes != null ? `free, limit ${fmtBytes(b.disk_free_limit_bytes)}` : 'free';
    if (b.disk_free_limit_bytes) {
      const ratio = b.disk_free_bytes / b.disk_free_limit_bytes;
      diskSub += `<div class="meter ${ratio < 1.5 ? 'bad' : ratio < 3 ? 'warn' : 'ok'}"><span style="width:${Math.min(100, 100 / Math.max(ratio, 1)).toFixed(1)}%"></span></div>`;
    }
  }
  const html =
    tile('Broker', reach, `${b.version ? `RabbitMQ ${esc(b.version)}` : 'version –'}${b.error ? `<div class="err" title="${esc(b.error)}">${esc(b.error)}</div>` : ''}`, b.reachable ? '' : 'bad') +
    tile('Alarms', alarms, '', (b.alarms || []).length ? 'bad' : '') +
    tile('Connections', fmtCount(b.connections), churn(b.connections_opened_per_s, b.connections_closed_per_s)) +
    tile('Channels', fmtCount(b.channels), churn(b.channels_opened_per_s, b.channels_closed_per_s)) +
    tile('Publish', fmtRate(b.publish_per_s, true), `deliver ${fmtRate(b.deliver_per_s, true)}`) +
    tile('Messages', fmtCount((b.messages_ready || 0) + (b.messages_unacked || 0)), `${fmtCount(b.messages_ready)} ready · ${fmtCount(b.messages_unacked)} unacked`) +
    tile('Memory', mem, memSub) +
    tile('Disk', disk, diskSub);
  setHTML($('#broker'), html);
  $('#broker').dataset.reachable = String(!!b.reachable);
}

// ---------------------------------------------------------------------------------------------
// Operator alerts and dead letters

function renderOperatorAlerts(o) {
  const list = (o.operator_alerts || []).slice();
  list.sort((a, b) => {
    const aa = a.cleared_ms == null ? 0 : 1;
    const bb = b.cleared_ms == null ? 0 : 1;
    if (aa !== bb) return aa - bb;
    if (aa === 0) return b.since_ms - a.since_ms;
    return b.cleared_ms - a.cleared_ms;
  });
  const t = now();
  let active = 0;
  let html = '';
  for (const a of list) {
    const isActive = a.cleared_ms == null;
    if (isActive) active++;
    const when = isActive
      ? `since ${fmtTime(a.since_ms)} <span class="muted">(${fmtDuration(t - a.since_ms)})</span>`
      : `cleared ${fmtAgo(a.cleared_ms, t)} <span class="muted">(lasted ${fmtDuration(a.cleared_ms - a.since_ms)})</span>`;
    html +=
      `<div class="op-alert ${isActive ? 'active' : 'cleared'}" data-kind="${esc(a.kind)}" data-subject="${esc(a.subject)}" data-active="${isActive}">` +
      `<span class="kind kind-${esc(a.kind)}">${esc(a.kind)}</span>` +
      `<span class="subject mono" title="${esc(a.subject)}">${esc(a.subject)}</span>` +
      `<span class="message">${esc(a.message)}</span>` +
      `<span class="when" title="${esc(fmtDateTime(a.since_ms))}">${when}</span>` +
      `</div>`;
  }
  if (!html) html = '<div class="empty-ok">No operator alerts. All queues consumed, no backlog, broker healthy.</div>';
  setHTML($('#operator-alerts'), html);
  $('#op-alert-count').textContent = list.length ? `${active} active · ${list.length - active} cleared` : '';
}

function renderDeadLetters(o) {
  const list = (o.dead_letters || []).slice().sort((a, b) => b.messages - a.messages || collator.compare(a.queue, b.queue));
  let html = '';
  for (const d of list) {
    html +=
      `<div class="dlq" data-dlq="${esc(d.queue)}"><div class="dlq-head"><span class="mono" title="${esc(d.queue)}">${esc(d.queue)}</span>` +
      `<span class="dlq-count">${fmtCount(d.messages)} message${d.messages === 1 ? '' : 's'}</span></div>`;
    if ((d.reasons || []).length) {
      html += '<table class="grid compact"><thead><tr><th>Reason</th><th class="num">Count</th><th>Example</th></tr></thead><tbody>';
      for (const r of d.reasons) {
        html +=
          `<tr data-reason="${esc(r.reason)}"><td><span class="chip chip-reason">${esc(r.reason)}</span></td><td class="num">${fmtCount(r.count)}</td>` +
          `<td class="example mono" title="${esc(r.example)}">${esc(r.example)}</td></tr>`;
      }
      html += '</tbody></table>';
    } else html += '<div class="muted small">no reasons sampled</div>';
    html += '</div>';
  }
  if (!html) html = '<div class="empty-ok">No dead-lettered messages.</div>';
  setHTML($('#dead-letters'), html);
  const total = list.reduce((s, d) => s + (d.messages || 0), 0);
  $('#dlq-count').textContent = list.length ? `${fmtCount(total)} in ${list.length} queue${list.length === 1 ? '' : 's'}` : '';
}

// ---------------------------------------------------------------------------------------------
// Queues

function renderQueues() {
  const o = store.overview;
  if (!o) return;
  const alerted = alertedSubjects(o);
  const q = $('#queue-filter').value.trim().toLowerCase();
  let list = (o.queues || []).filter(
    (x) => !q || x.name.toLowerCase().includes(q) || (x.owner || '').toLowerCase().includes(q) || x.kind.includes(q),
  );
  const col = QUEUE_COLS.find((c) => c.key === sortKey) || QUEUE_COLS[0];
  list.sort((a, b) => {
    let r;
    if (col.num) r = (a[col.key] || 0) - (b[col.key] || 0);
    else r = collator.compare(String(a[col.key] ?? ''), String(b[col.key] ?? ''));
    return r * sortDir || collator.compare(a.name, b.name);
  });
  let html = '';
  for (const x of list) {
    const alerts = alerted.get(x.name);
    const depth = (x.ready || 0) + (x.unacked || 0);
    const cls = [
      alerts ? 'alerting' : '',
      `kind-${x.kind}`,
      x.kind === 'dead-letter' && depth > 0 ? 'dlq-filled' : '',
    ].join(' ');
    html += `<tr data-queue="${esc(x.name)}" data-kind="${esc(x.kind)}" class="${cls}"${alerts ? ' data-alert="true"' : ''}>`;
    for (const c of QUEUE_COLS) {
      const v = x[c.key];
      if (c.spark) {
        const fmt = c.key === 'depth_history' ? fmtCount : (n) => fmtRate(n, true);
        html += `<td data-col="${c.key}" class="spark-cell">${sparkline(v, { cls: c.key === 'depth_history' ? 'depth' : 'rate', fmt })}</td>`;
      } else if (c.key === 'name') {
        const title = alerts ? `${x.name}\n${alerts.map((a) => `${a.kind}: ${a.message}`).join('\n')}` : x.name;
        html += `<td data-col="name" class="qname mono" title="${esc(title)}">${alerts ? '<span class="alert-dot"></span>' : ''}${esc(x.name)}</td>`;
      } else if (c.key === 'kind') {
        html += `<td data-col="kind"><span class="qkind qk-${esc(x.kind)}">${esc(x.kind)}</span></td>`;
      } else if (c.num) {
        const warn =
          (c.key === 'consumers' && v === 0 && ['subscription', 'inbox', 'work'].includes(x.kind)) ||
          (c.key === 'redeliver_per_s' && v > 0);
        html += `<td data-col="${c.key}" class="num${v ? '' : ' zero'}${warn ? ' warn' : ''}" data-value="${v ?? ''}">${c.fmt(v)}</td>`;
      } else {
        html += `<td data-col="${c.key}">${v == null ? '<span class="muted">–</span>' : esc(v)}</td>`;
      }
    }
    html += '</tr>';
  }
  if (!list.length) html = `<tr class="empty"><td colspan="${QUEUE_COLS.length}">${q ? 'No queue matches.' : 'No queues.'}</td></tr>`;
  setHTML($('#queue-table tbody'), html);
  for (const th of $('#queue-table thead').children[0].children) {
    th.classList.toggle('sorted', th.dataset.sort === sortKey);
    th.dataset.dir = th.dataset.sort === sortKey ? (sortDir > 0 ? 'asc' : 'desc') : '';
  }
  $('#queue-count').textContent = `${list.length}${q ? ` of ${(o.queues || []).length}` : ''} queues`;
}

// ---------------------------------------------------------------------------------------------
// Communication graph
//
// Four columns: publishing services | exchanges | queues | consuming services. Every node id is
// drawn once as a `g.node`; a service that both publishes and consumes sits on the left, and a
// dashed copy of it (`g.node-ghost`, same data-ghost-of) on the right receives its queues'
// edges, so every edge runs left to right. Columns are sorted by id: the layout depends only on
// the set of nodes and edges, and when that set is unchanged an update only touches the edges'
// widths and labels and the queues' depths.

const VB_W = 1200;
const COL_X = [8, 300, 600, 1022];
const COL_W = [170, 180, 250, 170];
const NODE_H = 22;
const ROW = 30;
const TOP = 34;

let graphKey = '';
let graphIndex = null; // { edges: Map(key -> {g, path, label, title}), nodes: Map(id -> {g, depth}) }

function kindOf(id, nodes) {
  const n = nodes.get(id);
  if (n) return n.kind;
  const i = id.indexOf(':');
  return i > 0 ? id.slice(0, i) : 'other';
}

function edgeWidth(perS) {
  if (!(perS > 0)) return 1;
  return Math.min(10, 1.2 + 1.7 * Math.log10(1 + perS));
}

function truncate(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function layoutGraph(g) {
  const nodes = new Map();
  for (const n of g.nodes || []) nodes.set(n.id, n);
  const edges = (g.edges || []).slice();
  for (const e of edges) {
    for (const id of [e.from, e.to]) {
      if (!nodes.has(id)) {
        const i = id.indexOf(':');
        nodes.set(id, { id, kind: kindOf(id, nodes), label: i > 0 ? id.slice(i + 1) : id });
      }
    }
  }
  const publishes = new Set();
  const consumes = new Set();
  for (const e of edges) {
    if (kindOf(e.from, nodes) === 'service') publishes.add(e.from);
    if (kindOf(e.to, nodes) === 'service') consumes.add(e.to);
  }
  const cols = [[], [], [], []];
  const place = new Map(); // id -> {col, ghost}
  for (const n of nodes.values()) {
    if (n.kind === 'service') {
      if (publishes.has(n.id) || !consumes.has(n.id)) {
        cols[0].push({ n, ghost: false });
        if (consumes.has(n.id)) cols[3].push({ n, ghost: true });
      } else cols[3].push({ n, ghost: false });
    } else if (n.kind === 'queue') cols[2].push({ n, ghost: false });
    else cols[1].push({ n, ghost: false });
  }
  for (const c of cols) c.sort((a, b) => collator.compare(a.n.id, b.n.id));
  const rows = Math.max(1, ...cols.map((c) => c.length));
  const height = TOP + rows * ROW + 8;
  cols.forEach((c, ci) => {
    const off = TOP + ((rows - c.length) * ROW) / 2;
    c.forEach((item, i) => {
      item.x = COL_X[ci];
      item.w = COL_W[ci];
      item.y = off + i * ROW;
      const key = item.ghost ? `ghost|${item.n.id}` : item.n.id;
      place.set(key, item);
    });
  });
  const outDeg = new Map();
  const inDeg = new Map();
  for (const e of edges) {
    outDeg.set(e.from, (outDeg.get(e.from) || 0) + 1);
    inDeg.set(e.to, (inDeg.get(e.to) || 0) + 1);
  }
  return { nodes, edges, cols, place, height, outDeg, inDeg };
}

function bezier(p0, p1, p2, p3, t) {
  const u = 1 - t;
  return u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3;
}

function edgeGeometry(L, e) {
  const a = L.place.get(e.from);
  // an edge into a service goes to its right-hand copy when it has one
  const b = L.place.get(`ghost|${e.to}`) || L.place.get(e.to);
  if (!a || !b) return null;
  const y1 = a.y + NODE_H / 2;
  const y2 = b.y + NODE_H / 2;
  const x1 = a.x + a.w;
  let x2;
  let c1;
  let c2;
  if (b.x > a.x) {
    x2 = b.x - 2;
    const c = (x2 - x1) / 2;
    c1 = x1 + c;
    c2 = x2 - c;
  } else {
    // same column or backwards: loop out on the right
    x2 = b.x + b.w + 2;
    const out = Math.max(x1, x2) + 40 + Math.abs(y2 - y1) * 0.15;
    c1 = out;
    c2 = out;
  }
  const d = `M${x1} ${y1}C${c1} ${y1} ${c2} ${y2} ${x2} ${y2}`;
  // The label goes near the end with fewer edges, where it does not collide with its siblings.
  const t = (L.outDeg.get(e.from) || 0) <= (L.inDeg.get(e.to) || 0) ? 0.25 : 0.75;
  return { d, mx: bezier(x1, c1, c2, x2, t), my: bezier(y1, y1, y2, y2, t) };
}

function renderGraph(o) {
  const g = o.graph || { nodes: [], edges: [] };
  const svg = $('#comm-graph');
  const alerted = alertedSubjects(o);
  const depthOf = new Map((o.queues || []).map((q) => [`queue:${q.name}`, (q.ready || 0) + (q.unacked || 0)]));
  const key = JSON.stringify([
    (g.nodes || []).map((n) => [n.id, n.kind, n.label]).sort(),
    (g.edges || []).map((e) => [e.from, e.to]).sort(),
  ]);

  if (key === graphKey && graphIndex) {
    // same topology: update in place
    applyFigures(g.edges || [], depthOf, alerted);
    return;
  }

  graphKey = key;
  const L = layoutGraph(g);
  svg.setAttribute('viewBox', `0 0 ${VB_W} ${L.height}`);
  svg.style.aspectRatio = `${VB_W} / ${L.height}`;
  const heads = ['Publishers', 'Exchanges', 'Queues', 'Consumers'];
  let html = '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto"><path d="M0 0L8 4L0 8z" class="arrowhead"/></marker></defs>';
  html += heads.map((h, i) => `<text class="col-head" x="${COL_X[i]}" y="16">${h}</text>`).join('');
  html += '<g class="edges">';
  const seen = new Map();
  const edgeKeys = [];
  for (const e of L.edges) {
    const geo = edgeGeometry(L, e);
    const k0 = `${e.from}\u0001${e.to}`;
    const n = seen.get(k0) || 0;
    seen.set(k0, n + 1);
    edgeKeys.push(`${k0}\u0001${n}`);
    if (!geo) continue;
    const fk = kindOf(e.from, L.nodes);
    html +=
      `<g class="edge from-${esc(fk)}" data-from="${esc(e.from)}" data-to="${esc(e.to)}" data-per-s="${e.per_s}" data-key="${esc(`${k0}\u0001${n}`)}">` +
      `<title></title><path d="${geo.d}" marker-end="url(#arrow)"/>` +
      `<text x="${geo.mx.toFixed(1)}" y="${(geo.my - 3).toFixed(1)}"></text></g>`;
  }
  html += '</g><g class="nodes">';
  for (const c of L.cols) {
    for (const item of c) {
      const n = item.n;
      const isQueue = n.kind === 'queue';
      const label = truncate(n.label || n.id, Math.floor((item.w - (isQueue ? 52 : 14)) / 6.2));
      const attrs = item.ghost
        ? `class="node-ghost kind-${esc(n.kind)}" data-ghost-of="${esc(n.id)}"`
        : `class="node kind-${esc(n.kind)}" data-node-id="${esc(n.id)}" data-kind="${esc(n.kind)}"`;
      html +=
        `<g ${attrs} transform="translate(${item.x} ${item.y})"><title>${esc(n.id)}${item.ghost ? ' (consuming)' : ''}</title>` +
        `<rect width="${item.w}" height="${NODE_H}" rx="${n.kind === 'exchange' ? 11 : 4}"/>` +
        `<text x="8" y="15">${esc(label)}</text>` +
        (isQueue ? `<text class="depth" x="${item.w - 6}" y="15" text-anchor="end"></text>` : '') +
        `</g>`;
    }
  }
  html += '</g>';
  if (L.nodes.size === 0) html += `<text class="empty-note" x="${VB_W / 2}" y="${TOP + 10}" text-anchor="middle">No traffic measured yet.</text>`;
  svg.innerHTML = html;

  // index for in-place updates
  graphIndex = { edges: new Map(), nodes: new Map() };
  for (const el of svg.querySelectorAll('g.edge')) {
    graphIndex.edges.set(el.dataset.key, { g: el, path: el.querySelector('path'), label: el.querySelector('text'), title: el.querySelector('title') });
  }
  for (const el of svg.querySelectorAll('g.node')) {
    graphIndex.nodes.set(el.dataset.nodeId, { g: el, depth: el.querySelector('text.depth') });
  }
  applyFigures(L.edges, depthOf, alerted);
}

/** Puts the latest rates, queue depths and alert marks on the drawn graph (edges in draw order). */
function applyFigures(edges, depthOf, alerted) {
  const seen = new Map();
  for (const e of edges) {
    const k0 = `${e.from}\u0001${e.to}`;
    const n = seen.get(k0) || 0;
    seen.set(k0, n + 1);
    const ent = graphIndex.edges.get(`${k0}\u0001${n}`);
    if (ent) updateEdge(ent, e);
  }
  for (const [id, ent] of graphIndex.nodes) {
    const d = depthOf.get(id);
    if (ent.depth && d != null) ent.depth.textContent = fmtCount(d);
    const subject = id.slice(id.indexOf(':') + 1);
    ent.g.classList.toggle('alerting', alerted.has(subject));
  }
}

function updateEdge(ent, e) {
  const per = e.per_s || 0;
  ent.g.dataset.perS = String(per);
  ent.g.classList.toggle('idle', !(per > 0));
  ent.path.setAttribute('stroke-width', edgeWidth(per).toFixed(2));
  ent.label.textContent = per > 0 ? fmtRate(per, true) : '';
  ent.title.textContent = `${e.from} → ${e.to}: ${fmtRate(per, true)}${e.label ? `\n${e.label}` : ''}`;
}

function initGraphHover() {
  const svg = $('#comm-graph');
  let current = null;
  const clear = () => {
    if (!current) return;
    svg.classList.remove('focus');
    for (const el of svg.querySelectorAll('.on')) el.classList.remove('on');
    current = null;
  };
  svg.addEventListener('mouseover', (e) => {
    const n = e.target.closest('g.node, g.node-ghost');
    const id = n ? n.dataset.nodeId || n.dataset.ghostOf : null;
    if (id === current) return;
    clear();
    if (!id) return;
    current = id;
    svg.classList.add('focus');
    for (const el of svg.querySelectorAll('g.edge')) {
      if (el.dataset.from === id || el.dataset.to === id) {
        el.classList.add('on');
        for (const other of [el.dataset.from, el.dataset.to]) {
          for (const nn of svg.querySelectorAll(`g.node[data-node-id="${CSS.escape(other)}"], g.node-ghost[data-ghost-of="${CSS.escape(other)}"]`)) nn.classList.add('on');
        }
      }
    }
  });
  svg.addEventListener('mouseleave', clear);
}
