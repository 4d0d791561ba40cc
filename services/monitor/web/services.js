// The services tab: the directory, per service its instances with health and their last
// statistics report, each with an expandable per-type table. Rendered from the Overview, only
// while the tab is visible.

import { store, on, now } from './store.js';
import { $, esc, fmtCount, fmtRate, fmtBytes, fmtUs, fmtPct, fmtAgo, fmtDateTime, setHTML, collator } from './util.js';

/** "service/instance" keys whose per-type table is open. */
const expanded = new Set();

export function initServices() {
  on('overview', () => {
    if (store.activeTab === 'services' && !document.hidden) renderServices();
  });
  on('tab', (tab) => tab === 'services' && renderServices());
  document.addEventListener('visibilitychange', () => !document.hidden && store.activeTab === 'services' && renderServices());
  $('#services').addEventListener('click', (e) => {
    const btn = e.target.closest('button.types-toggle');
    if (!btn) return;
    const k = btn.dataset.key;
    if (expanded.has(k)) expanded.delete(k);
    else expanded.add(k);
    renderServices();
  });
  $('#services-expand-all').addEventListener('click', () => {
    const o = store.overview;
    if (!o) return;
    const keys = [];
    for (const s of o.services || []) {
      for (const i of s.instances || []) {
        if ((i.stats && (i.stats.types || []).length) || (i.offers || []).length) keys.push(`${s.name}/${i.instance}`);
      }
    }
    const allOpen = keys.every((k) => expanded.has(k));
    for (const k of keys) {
      if (allOpen) expanded.delete(k);
      else expanded.add(k);
    }
    renderServices();
  });
}

const HEALTH_ORDER = { live: 0, unresponsive: 1, gone: 2 };

const STAT_HEAD =
  '<th class="num" title="messages in per second">in/s</th>' +
  '<th class="num" title="messages out per second">out/s</th>' +
  '<th class="num" title="handler errors in the last report interval">errors</th>' +
  '<th class="num" title="retries in the last report interval">retries</th>' +
  '<th class="num" title="dead-lettered in the last report interval">dead-<wbr>lettered</th>' +
  '<th class="num" title="rejected by validation in the last report interval">rejected</th>' +
  '<th class="num" title="reconnects in the last report interval">recon&shy;nects</th>' +
  '<th class="num" title="handler time, 99th percentile">handler p99</th>' +
  '<th class="num" title="publish confirm time, 99th percentile">confirm p99</th>' +
  '<th class="num" title="process CPU">CPU</th>' +
  '<th class="num" title="process resident memory">RSS</th>' +
  '<th class="num" title="host CPU">host CPU</th>' +
  '<th class="num" title="host memory used / total">host mem</th>' +
  '<th class="num" title="host load, 1 minute">load</th>';
const COLS = 3 + 14 + 1;
// Fixed column widths, so that the tables of all services line up.
const COLGROUP =
  '<colgroup><col class="c-inst"><col style="width:104px"><col style="width:76px">' +
  [50, 50, 46, 48, 50, 56, 52, 66, 66, 46, 58, 50, 104, 40].map((w) => `<col style="width:${w}px">`).join('') +
  '<col style="width:74px"></colgroup>';

function cnt(n, cls) {
  return `<td class="num${n ? ` ${cls}` : ' zero'}">${fmtCount(n)}</td>`;
}

function statsCells(s) {
  if (!s) return `<td class="num muted" colspan="14">no statistics report yet</td>`;
  const mem =
    s.host_mem_used_bytes != null
      ? `${fmtBytes(s.host_mem_used_bytes)}${s.host_mem_total_bytes ? `<span class="muted"> / ${fmtBytes(s.host_mem_total_bytes)}</span>` : ''}`
      : '–';
  return (
    `<td class="num">${fmtRate(s.in_per_s)}</td>` +
    `<td class="num">${fmtRate(s.out_per_s)}</td>` +
    cnt(s.errors, 'bad') +
    cnt(s.retries, 'warn') +
    cnt(s.dead_lettered, 'bad') +
    cnt(s.rejected_by_validation, 'bad') +
    cnt(s.reconnects, 'warn') +
    `<td class="num">${fmtUs(s.handler_p99_us)}</td>` +
    `<td class="num">${fmtUs(s.confirm_p99_us)}</td>` +
    `<td class="num">${fmtPct(s.cpu_pct)}</td>` +
    `<td class="num">${fmtBytes(s.rss_bytes)}</td>` +
    `<td class="num">${fmtPct(s.host_cpu_pct)}</td>` +
    `<td class="num nowrap">${mem}</td>` +
    `<td class="num">${s.load_1m == null ? '–' : s.load_1m.toFixed(2)}</td>`
  );
}

function typesTable(s) {
  const types = (s.types || []).slice().sort((a, b) => collator.compare(a.type, b.type));
  let html =
    '<table class="grid compact types"><thead><tr><th>Type</th><th class="num">in/s</th><th class="num">out/s</th>' +
    '<th class="num">handled</th><th class="num">errors</th><th class="num">p50</th><th class="num">p99</th></tr></thead><tbody>';
  for (const t of types) {
    html +=
      `<tr data-type="${esc(t.type)}"><td class="mono">${esc(t.type)}</td><td class="num">${fmtRate(t.in_per_s)}</td>` +
      `<td class="num">${fmtRate(t.out_per_s)}</td><td class="num">${fmtCount(t.handled)}</td>` +
      `${cnt(t.errors, 'bad')}<td class="num">${fmtUs(t.p50_us)}</td><td class="num">${fmtUs(t.p99_us)}</td></tr>`;
  }
  if (!types.length) html += '<tr><td colspan="7" class="muted">no per-type figures</td></tr>';
  return `${html}</tbody></table>`;
}

function offersLine(offers) {
  if (!offers || !offers.length) return '';
  return `<div class="offers-line" title="${esc(offers.join('\n'))}">${esc(offers.join(' · '))}</div>`;
}

function offersChips(offers) {
  if (!offers || !offers.length) return '';
  return `<div class="offers"><span class="muted small">offers</span> ${offers.map((o) => `<span class="chip">${esc(o)}</span>`).join(' ')}</div>`;
}

function renderServices() {
  const o = store.overview;
  if (!o) return;
  const t = now();
  const services = (o.services || []).slice().sort((a, b) => collator.compare(a.name, b.name));
  let nLive = 0;
  let nUnresp = 0;
  let nGone = 0;
  let html = '';
  for (const s of services) {
    const insts = (s.instances || []).slice().sort(
      (a, b) => (HEALTH_ORDER[a.health] ?? 3) - (HEALTH_ORDER[b.health] ?? 3) || collator.compare(a.instance, b.instance),
    );
    const live = insts.filter((i) => i.health === 'live').length;
    nLive += live;
    nUnresp += insts.filter((i) => i.health === 'unresponsive').length;
    nGone += insts.filter((i) => i.health === 'gone').length;
    const state = live === 0 ? 'down' : live < insts.length ? 'degraded' : 'ok';
    html +=
      `<section class="svc svc-${state}" data-service="${esc(s.name)}">` +
      `<header><h3>${esc(s.name)}</h3>` +
      `<span class="svc-live ${state}">${live} of ${insts.length} live</span>` +
      `<span class="svc-rates">in <b>${fmtRate(s.in_per_s, true)}</b> · out <b>${fmtRate(s.out_per_s, true)}</b></span></header>` +
      `<table class="grid inst">${COLGROUP}<thead><tr><th>Instance</th><th>Health</th><th>Last seen</th>${STAT_HEAD}<th></th></tr></thead><tbody>`;
    for (const i of insts) {
      const key = `${s.name}/${i.instance}`;
      const st = i.stats;
      const ntypes = st && st.types ? st.types.length : 0;
      const canOpen = ntypes > 0 || (i.offers || []).length > 0;
      const open = expanded.has(key) && canOpen;
      html +=
        `<tr class="inst-row h-${esc(i.health)}" data-instance="${esc(i.instance)}" data-health="${esc(i.health)}">` +
        `<td class="inst-cell"><div class="inst-name mono">${esc(i.instance)}</div>` +
        `<div class="inst-meta">${i.version ? `v${esc(String(i.version).replace(/^v/, ''))}` : '<span class="muted">version –</span>'} · ${
          i.host ? esc(i.host) : '<span class="muted">host –</span>'
        }</div>${offersLine(i.offers)}</td>` +
        `<td><span class="health health-${esc(i.health)}">${esc(i.health)}</span></td>` +
        `<td class="nowrap" title="${esc(fmtDateTime(i.last_seen_ms))}">${fmtAgo(i.last_seen_ms, t)}</td>` +
        statsCells(st) +
        `<td>${
          canOpen
            ? `<button class="types-toggle ghost" data-key="${esc(key)}" aria-expanded="${open}" title="offers and per-type figures">${open ? '▾' : '▸'} ${ntypes ? `${ntypes} type${ntypes === 1 ? '' : 's'}` : 'offers'}</button>`
            : ''
        }</td></tr>`;
      if (open) {
        html +=
          `<tr class="types-row" data-types-of="${esc(i.instance)}"><td colspan="${COLS}">${offersChips(i.offers)}` +
          `${st ? typesTable(st) : '<div class="muted small">no statistics report yet</div>'}</td></tr>`;
      }
    }
    if (!insts.length) html += `<tr><td colspan="${COLS}" class="muted">no instances</td></tr>`;
    html += '</tbody></table></section>';
  }
  if (!services.length) html = '<div class="notice">No service has been seen on the bus yet.</div>';
  setHTML($('#services'), html);
  $('#services-summary').textContent =
    `${services.length} service${services.length === 1 ? '' : 's'} · ${nLive} live` +
    (nUnresp ? ` · ${nUnresp} unresponsive` : '') +
    (nGone ? ` · ${nGone} gone` : '');
}
