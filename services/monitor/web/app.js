// Entry point: loads the initial state, keeps it current from the server-sent events, switches
// tabs from location.hash, and keeps the header (live indicator, summary, badges) up to date.
//
// Modules: store.js (state + event bus), util.js (formatting, fetch), map.js (canvas),
// fleet.js (vehicle list, replay, alert feed), bus.js, services.js, trace.js.

import { store, on, emit, noteServerTime, mergeVehicles, replaceVehicles, mergeAlerts } from './store.js';
import { $, fetchJSON, fmtTime, toast } from './util.js';
import { initFleet } from './fleet.js';
import { initBus } from './bus.js';
import { initServices } from './services.js';
import { initTrace, openTrace } from './trace.js';

const TABS = ['fleet', 'bus', 'services', 'trace'];
const OPERATOR_KEY = 'instadash.operator';

// ---------------------------------------------------------------------------------------------
// Tabs

function parseHash() {
  const h = location.hash.replace(/^#\/?/, '');
  const [name, query] = h.split('?');
  return { tab: TABS.includes(name) ? name : 'fleet', params: new URLSearchParams(query || '') };
}

function showTab(tab) {
  for (const t of TABS) {
    const on = t === tab;
    $(`#view-${t}`).hidden = !on;
    const btn = $(`[data-tab=${t}]`);
    btn.classList.toggle('active', on);
    btn.setAttribute('aria-selected', String(on));
  }
  const changed = store.activeTab !== tab;
  store.activeTab = tab;
  document.body.dataset.view = tab;
  if (changed || !showTab.done) emit('tab', tab);
  showTab.done = true;
}

function onHash() {
  const { tab, params } = parseHash();
  showTab(tab);
  // deep link: #trace?event_id=… or #trace?vehicle_id=…
  if (tab === 'trace' && (params.get('event_id') || params.get('vehicle_id'))) {
    const event_id = params.get('event_id');
    const vehicle_id = params.get('vehicle_id');
    history.replaceState(null, '', '#trace');
    openTrace({ event_id, vehicle_id });
  }
}

function initTabs() {
  for (const btn of document.querySelectorAll('.tabs [data-tab]')) {
    btn.addEventListener('click', () => {
      const tab = btn.dataset.tab;
      if (location.hash === `#${tab}`) showTab(tab);
      else location.hash = tab;
    });
  }
  window.addEventListener('hashchange', onHash);
  onHash();
}

// ---------------------------------------------------------------------------------------------
// Header

function initOperator() {
  const input = $('#operator-name');
  let name = 'operator';
  try {
    name = localStorage.getItem(OPERATOR_KEY) || 'operator';
  } catch (_) {
    /* storage disabled */
  }
  input.value = name;
  input.addEventListener('input', () => {
    try {
      localStorage.setItem(OPERATOR_KEY, input.value.trim() || 'operator');
    } catch (_) {
      /* storage disabled */
    }
  });
  input.addEventListener('blur', () => {
    if (!input.value.trim()) input.value = 'operator';
  });
}

let lastEventAt = 0;

function setLive(live, text) {
  store.live = live;
  const el = $('#live');
  el.dataset.live = String(live);
  $('#live-text').textContent = text || (live ? 'live' : 'disconnected');
  el.title = live ? 'Receiving live updates from the monitor' : 'Not connected to the monitor; retrying';
  emit('live', live);
}

// A connection that stays open but goes quiet (overview is due every second) is shown as such.
setInterval(() => {
  if (!store.live) return;
  const quiet = Date.now() - lastEventAt;
  const el = $('#live');
  const stale = lastEventAt > 0 && quiet > 5000;
  el.dataset.stale = String(stale);
  $('#live-text').textContent = stale ? `live · quiet ${Math.round(quiet / 1000)} s` : 'live';
}, 1000);

function updateSummary() {
  let online = 0;
  for (const v of store.vehicles.values()) if (v.status === 'online') online++;
  const o = store.overview;
  const parts = [`<b>${store.vehicles.size.toLocaleString('en-US')}</b> vehicles`, `<b>${online.toLocaleString('en-US')}</b> online`];
  if (o) {
    const b = o.broker || {};
    parts.push(
      b.reachable
        ? `broker <span class="ok">ok</span>${(b.alarms || []).length ? ` <span class="bad">alarm</span>` : ''}`
        : '<span class="bad">broker unreachable</span>',
    );
    parts.push(`<span class="muted">${fmtTime(o.time_ms)}</span>`);
  }
  $('#summary').innerHTML = parts.join(' · ');
}

function setBadge(tab, n, title) {
  const b = $(`#badge-${tab}`);
  b.hidden = !n;
  b.textContent = n > 99 ? '99+' : String(n);
  b.title = title;
}

function updateBadges() {
  const o = store.overview;
  if (o) {
    const active = (o.operator_alerts || []).filter((a) => a.cleared_ms == null).length;
    setBadge('bus', active, `${active} active operator alert${active === 1 ? '' : 's'}`);
    let down = 0;
    for (const s of o.services || []) for (const i of s.instances || []) if (i.health === 'unresponsive') down++;
    for (const s of o.services || []) if ((s.instances || []).length && !s.instances.some((i) => i.health === 'live')) down++;
    setBadge('services', down, `${down} unresponsive instance(s) or service(s) without a live instance`);
  }
}

// ---------------------------------------------------------------------------------------------
// Data

function showBanner(msg) {
  const b = $('#banner');
  if (!msg) {
    b.hidden = true;
    return;
  }
  b.textContent = msg;
  b.hidden = false;
}

async function loadInitial() {
  const [roads, fleet, overview] = await Promise.allSettled([
    fetchJSON('api/roads'),
    fetchJSON('api/fleet'),
    fetchJSON('api/overview'),
  ]);
  const failed = [];
  if (roads.status === 'fulfilled') {
    store.roads = roads.value;
    emit('roads', roads.value);
  } else failed.push(`roads (${roads.reason.message})`);
  if (fleet.status === 'fulfilled') applyFleet(fleet.value);
  else failed.push(`fleet (${fleet.reason.message})`);
  if (overview.status === 'fulfilled') applyOverview(overview.value);
  else failed.push(`overview (${overview.reason.message})`);
  showBanner(failed.length ? `Could not load ${failed.join(', ')}. Live updates will fill in what they can.` : '');
}

function applyFleet(f) {
  noteServerTime(f.time_ms);
  replaceVehicles(f.vehicles || []);
  mergeAlerts(f.alerts || []);
  updateSummary();
}

function applyOverview(o) {
  noteServerTime(o.time_ms);
  store.overview = o;
  emit('overview', o);
  updateSummary();
  updateBadges();
}

let es = null;
let everOpened = false;
let needResync = false;
let retryTimer = 0;
let summaryTimer = 0;

function connect() {
  clearTimeout(retryTimer);
  if (es) es.close();
  es = new EventSource('events');
  es.addEventListener('open', () => {
    setLive(true);
    lastEventAt = Date.now();
    if (needResync) {
      // Batches carry only changes: what changed while we were away is only in a fresh fleet.
      needResync = false;
      fetchJSON('api/fleet').then(applyFleet, (err) => toast(`Could not reload the fleet: ${err.message}`, 'error'));
    }
    everOpened = true;
  });
  es.addEventListener('error', () => {
    setLive(false, es.readyState === EventSource.CONNECTING ? 'disconnected · reconnecting' : 'disconnected');
    if (everOpened) needResync = true;
    // The browser retries by itself unless the answer was fatal (e.g. not 200): then we do.
    if (es.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 3000);
  });
  es.addEventListener('overview', (e) => {
    lastEventAt = Date.now();
    const o = parse(e);
    if (o) applyOverview(o);
  });
  es.addEventListener('vehicles', (e) => {
    lastEventAt = Date.now();
    const b = parse(e);
    if (!b) return;
    noteServerTime(b.time_ms);
    mergeVehicles(b.vehicles || []);
    // the summary needs a full pass over the vehicles: at most once a second
    if (!summaryTimer) summaryTimer = setTimeout(() => ((summaryTimer = 0), updateSummary()), 1000);
  });
  es.addEventListener('alert', (e) => {
    lastEventAt = Date.now();
    const a = parse(e);
    if (a) mergeAlerts([a]);
  });
}

function parse(e) {
  try {
    return JSON.parse(e.data);
  } catch (err) {
    console.error(`bad ${e.type} event`, err);
    return null;
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  setLive(false, 'connecting');
  initOperator();
  initFleet();
  initBus();
  initServices();
  initTrace();
  initTabs();
  on('alerts', () => {
    let n = 0;
    for (const a of store.alerts.values()) if (!a.cleared_ms && !a.acknowledged_by) n++;
    setBadge('fleet', n, `${n} unacknowledged active vehicle alert${n === 1 ? '' : 's'}`);
  });
  await loadInitial();
  connect();
}

main().catch((err) => {
  console.error(err);
  showBanner(`The dashboard failed to start: ${err.message}`);
});
