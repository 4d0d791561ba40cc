// The fleet tab besides the canvas: the vehicle list (filtered, first 200 matches, rows kept and
// patched by id), the selected vehicle with its route replay, and the alert feed with acknowledge.

import { store, on, emit, now } from './store.js';
import { initMap, requestDraw, setRoads, centerOn, replayPosition } from './map.js';
import { openTrace } from './trace.js';
import { $, esc, fmtAgo, fmtTime, fmtDateTime, fmtRate, fetchJSON, postJSON, toast, collator } from './util.js';

const LIST_LIMIT = 200;
const ALERT_LIMIT = 300;
const HOUR_MS = 3600 * 1000;

let sortedIds = [];
let alertsDirty = true;

export function initFleet() {
  initMap();
  initList();
  initDetail();
  initAlerts();

  on('roads', () => setRoads());
  on('vehicles', (changed) => {
    requestDraw();
    if (changed === null || (store.selectedId && changed.some((v) => v.id === store.selectedId))) renderDetail();
    if (changed === null) renderList();
  });
  on('alerts', () => {
    alertsDirty = true;
    scheduleAlerts();
  });
  on('select', (id) => select(id));
  on('tab', (tab) => {
    if (tab !== 'fleet') return;
    requestDraw();
    renderList();
    renderAlerts();
    renderDetail();
  });
  // "12 s ago" ticks; the list also picks up the vehicles changed since.
  setInterval(() => {
    if (store.activeTab !== 'fleet' || document.hidden) return;
    renderList();
    renderDetail();
  }, 1000);
}

// ---------------------------------------------------------------------------------------------
// Vehicle list

const rows = new Map(); // id -> { tr, status, speed, seen, alerts, cells }

function initList() {
  const filter = $('#vehicle-filter');
  const status = $('#vehicle-status');
  let t = 0;
  filter.addEventListener('input', () => {
    clearTimeout(t);
    t = setTimeout(renderList, 80);
  });
  status.addEventListener('change', renderList);
  $('#vehicle-list').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-vehicle-id]');
    if (tr) emit('select', tr.dataset.vehicleId);
  });
}

function ensureSorted() {
  if (!store.idsChanged) return;
  sortedIds = Array.from(store.vehicles.keys()).sort(collator.compare);
  store.idsChanged = false;
}

function matchesStatus(v, want) {
  switch (want) {
    case '':
      return true;
    case 'alerting':
      return v.active_alerts && v.active_alerts.length > 0;
    case 'moving':
      return v.speed_kmh > 0;
    default:
      return v.status === want;
  }
}

function renderList() {
  ensureSorted();
  const q = $('#vehicle-filter').value.trim().toLowerCase();
  const want = $('#vehicle-status').value;
  const shown = [];
  let matches = 0;
  for (const id of sortedIds) {
    const v = store.vehicles.get(id);
    if (!v) continue;
    if (q && !String(id).toLowerCase().includes(q)) continue;
    if (want && !matchesStatus(v, want)) continue;
    matches++;
    if (shown.length < LIST_LIMIT) shown.push(v);
  }

  const tbody = $('#vehicle-list');
  const t = now();
  const keep = new Set();
  let prev = null;
  for (const v of shown) {
    let r = rows.get(v.id);
    if (!r) {
      r = createRow(v.id);
      rows.set(v.id, r);
    }
    patchRow(r, v, t);
    keep.add(v.id);
    const expected = prev ? prev.nextSibling : tbody.firstChild;
    if (r.tr !== expected) tbody.insertBefore(r.tr, expected);
    prev = r.tr;
  }
  for (const [id, r] of rows) {
    if (!keep.has(id)) {
      r.tr.remove();
      rows.delete(id);
    }
  }
  const total = store.vehicles.size;
  let text;
  if (matches === total) text = `${total.toLocaleString('en-US')} vehicles`;
  else text = `${matches.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`;
  if (matches > shown.length) text += ` · first ${shown.length}`;
  $('#vehicle-count').textContent = text;
  const empty = $('#vehicle-empty');
  empty.hidden = shown.length > 0;
  empty.textContent = total === 0 ? 'No vehicles yet.' : 'No vehicle matches.';
}

function createRow(id) {
  const tr = document.createElement('tr');
  tr.dataset.vehicleId = id;
  tr.innerHTML = '<td class="vid"></td><td class="vst"><i></i><span></span></td><td class="num"></td><td class="ago"></td>';
  const [idTd, stTd, spTd, agoTd] = tr.children;
  idTd.textContent = id;
  return { tr, idTd, stTd, stText: stTd.lastChild, spTd, agoTd, status: null, speed: undefined, ago: null, alerts: null, sel: null };
}

function patchRow(r, v, t) {
  if (r.status !== v.status) {
    r.status = v.status;
    r.stTd.className = `vst st-${v.status}`;
    r.stText.textContent = v.status;
    r.tr.dataset.status = v.status;
  }
  const sp = v.speed_kmh == null ? '–' : `${Math.round(v.speed_kmh)} km/h`;
  if (r.speed !== sp) {
    r.speed = sp;
    r.spTd.textContent = sp;
  }
  const ago = fmtAgo(v.last_seen_ms, t);
  if (r.ago !== ago) {
    r.ago = ago;
    r.agoTd.textContent = ago;
  }
  const alerts = v.active_alerts && v.active_alerts.length ? v.active_alerts.join(', ') : '';
  if (r.alerts !== alerts) {
    r.alerts = alerts;
    r.tr.classList.toggle('alerting', alerts !== '');
    r.idTd.title = alerts ? `active alerts: ${alerts}` : '';
  }
  const sel = v.id === store.selectedId;
  if (r.sel !== sel) {
    r.sel = sel;
    r.tr.classList.toggle('selected', sel);
    r.tr.setAttribute('aria-selected', String(sel));
  }
}

// ---------------------------------------------------------------------------------------------
// Selected vehicle and route replay

function initDetail() {
  $('#vd-close').addEventListener('click', () => emit('select', null));
  $('#vd-center').addEventListener('click', () => store.selectedId && centerOn(store.selectedId));
  $('#vd-replay').addEventListener('click', () => store.selectedId && startReplay(store.selectedId));
  $('#vd-trace').addEventListener('click', () => store.selectedId && openTrace({ vehicle_id: store.selectedId }));
  $('#replay-play').addEventListener('click', togglePlay);
  $('#replay-close').addEventListener('click', stopReplay);
  $('#replay-slider').addEventListener('input', (e) => {
    const r = store.replay;
    if (!r) return;
    r.t = r.t0 + (Number(e.target.value) / 1000) * (r.t1 - r.t0);
    updateReplayUi();
    requestDraw();
  });
  $('#replay-speed').addEventListener('change', (e) => {
    if (store.replay) store.replay.speed = Number(e.target.value);
  });
}

function select(id) {
  if (id === store.selectedId) return;
  if (store.replay && store.replay.vehicleId !== id) stopReplay();
  store.selectedId = id || null;
  for (const r of rows.values()) {
    const sel = r.tr.dataset.vehicleId === store.selectedId;
    if (r.sel !== sel) {
      r.sel = sel;
      r.tr.classList.toggle('selected', sel);
      r.tr.setAttribute('aria-selected', String(sel));
    }
  }
  const row = store.selectedId && rows.get(store.selectedId);
  if (row) row.tr.scrollIntoView({ block: 'nearest' });
  renderDetail();
  requestDraw();
}

function renderDetail() {
  const box = $('#vehicle-detail');
  const id = store.selectedId;
  const v = id && store.vehicles.get(id);
  if (!id) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.dataset.vehicleId = id;
  $('#vd-id').textContent = id;
  if (!v) {
    $('#vd-body').innerHTML = '<div class="muted">No longer in the fleet.</div>';
    return;
  }
  const t = now();
  const pos = v.lat == null || v.lon == null ? '–' : `${v.lat.toFixed(5)}, ${v.lon.toFixed(5)}`;
  const alerts = v.active_alerts && v.active_alerts.length
    ? v.active_alerts.map((a) => `<span class="chip chip-alert">${esc(a)}</span>`).join(' ')
    : '<span class="muted">none</span>';
  $('#vd-body').innerHTML =
    `<dl class="kv">` +
    `<dt>Status</dt><dd><span class="st st-${esc(v.status)}"><i></i>${esc(v.status)}</span></dd>` +
    `<dt>Speed</dt><dd>${v.speed_kmh == null ? '–' : `${fmtRate(v.speed_kmh)} km/h`}${
      v.heading_deg == null ? '' : ` · heading ${Math.round(v.heading_deg)}°`
    }</dd>` +
    `<dt>Ignition</dt><dd>${v.ignition_on == null ? '–' : v.ignition_on ? 'on' : 'off'}</dd>` +
    `<dt>Position</dt><dd class="mono">${pos}</dd>` +
    `<dt>Last seen</dt><dd title="${esc(fmtDateTime(v.last_seen_ms))}">${fmtAgo(v.last_seen_ms, t)}</dd>` +
    `<dt>Alerts</dt><dd>${alerts}</dd>` +
    `</dl>`;
}

let replayRaf = 0;
let replayLast = 0;
let replayReq = 0;

async function startReplay(id) {
  stopReplay();
  const to = Math.round(now());
  const from = to - HOUR_MS;
  const req = ++replayReq;
  const status = $('#replay-status');
  $('#replay').hidden = false;
  $('#replay-controls').hidden = true;
  status.textContent = 'Loading the last hour…';
  let route;
  try {
    route = await fetchJSON(`api/vehicles/${encodeURIComponent(id)}/route?from_ms=${from}&to_ms=${to}`);
  } catch (err) {
    if (req !== replayReq) return;
    status.textContent = `Could not load the route: ${err.message}`;
    return;
  }
  if (req !== replayReq || store.selectedId !== id) return;
  const points = (route.points || []).filter((p) => p.lat != null && p.lon != null).sort((a, b) => a.time_ms - b.time_ms);
  if (points.length === 0) {
    status.textContent = 'No positions in the last hour.';
    return;
  }
  const t0 = points[0].time_ms;
  const t1 = points[points.length - 1].time_ms;
  store.replay = { vehicleId: id, points, t0, t1, t: t0, playing: false, speed: Number($('#replay-speed').value) };
  status.textContent = `${points.length.toLocaleString('en-US')} points, ${fmtTime(t0)} – ${fmtTime(t1)}`;
  $('#replay-controls').hidden = false;
  $('#replay').dataset.points = String(points.length);
  play();
}

function stopReplay() {
  replayReq++;
  pause();
  if (store.replay) {
    store.replay = null;
    requestDraw();
  }
  $('#replay').hidden = true;
}

function play() {
  const r = store.replay;
  if (!r) return;
  if (r.t >= r.t1) r.t = r.t0;
  r.playing = true;
  replayLast = 0;
  cancelAnimationFrame(replayRaf);
  replayRaf = requestAnimationFrame(stepReplay);
  updateReplayUi();
}

function pause() {
  if (store.replay) store.replay.playing = false;
  cancelAnimationFrame(replayRaf);
  replayRaf = 0;
  updateReplayUi();
}

function togglePlay() {
  if (store.replay && store.replay.playing) pause();
  else play();
}

function stepReplay(ts) {
  const r = store.replay;
  if (!r || !r.playing) return;
  if (replayLast) r.t = Math.min(r.t1, r.t + (ts - replayLast) * r.speed);
  replayLast = ts;
  if (r.t >= r.t1) r.playing = false;
  updateReplayUi();
  requestDraw();
  if (r.playing) replayRaf = requestAnimationFrame(stepReplay);
}

function updateReplayUi() {
  const r = store.replay;
  const btn = $('#replay-play');
  if (!r) return;
  btn.textContent = r.playing ? 'Pause' : 'Play';
  btn.setAttribute('aria-pressed', String(r.playing));
  const span = r.t1 - r.t0;
  $('#replay-slider').value = String(span > 0 ? Math.round(((r.t - r.t0) / span) * 1000) : 1000);
  const pos = replayPosition(r);
  $('#replay-time').textContent = `${fmtTime(r.t)}${pos ? ` · ${Math.round(pos.speed_kmh)} km/h` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Alert feed

const alertRows = new Map(); // alert_id -> { tr, sig }
let alertsRaf = 0;
let alertsRendered = false; // rows added after the first render flash

function scheduleAlerts() {
  if (alertsRaf || store.activeTab !== 'fleet') return;
  alertsRaf = requestAnimationFrame(() => {
    alertsRaf = 0;
    renderAlerts();
  });
}

/** `cleared` once cleared, else `acknowledged` once acknowledged, else `active`. */
export function alertState(a) {
  if (a.cleared_ms) return 'cleared';
  if (a.acknowledged_by) return 'acknowledged';
  return 'active';
}

function initAlerts() {
  $('#alerts-open-only').addEventListener('change', () => {
    alertsDirty = true;
    renderAlerts();
  });
  $('#alert-feed').addEventListener('click', (e) => {
    const btn = e.target.closest('button');
    const tr = e.target.closest('tr[data-alert-id]');
    if (!btn || !tr) return;
    const a = store.alerts.get(tr.dataset.alertId);
    if (!a) return;
    if (btn.classList.contains('ack')) acknowledge(a, btn);
    else if (btn.classList.contains('trace')) openTrace({ event_id: a.event_id });
    else if (btn.classList.contains('vehicle')) {
      emit('select', a.vehicle_id);
      centerOn(a.vehicle_id);
    }
  });
}

function alertSig(a) {
  return `${a.alert_type}|${a.severity}|${a.message}|${a.raised_ms}|${a.cleared_ms}|${a.acknowledged_by}|${a.acknowledged_ms}|${a.vehicle_id}|${a.event_id}`;
}

function alertRowHtml(a, state) {
  let stateText;
  let stateTitle = '';
  if (state === 'cleared') {
    stateText = 'cleared';
    stateTitle = `cleared ${fmtDateTime(a.cleared_ms)}`;
    if (a.acknowledged_by) {
      stateText += ` <span class="muted">· ack’d by ${esc(a.acknowledged_by)}</span>`;
      stateTitle += `, acknowledged by ${a.acknowledged_by}`;
    }
  } else if (state === 'acknowledged') {
    stateText = `acknowledged by <b>${esc(a.acknowledged_by)}</b>`;
    if (a.acknowledged_ms) stateTitle = `acknowledged ${fmtDateTime(a.acknowledged_ms)}`;
  } else stateText = 'active';
  const sev = String(a.severity || '').toLowerCase();
  return (
    `<td class="time" title="${esc(fmtDateTime(a.raised_ms))}">${esc(fmtTime(a.raised_ms))}</td>` +
    `<td><button class="link vehicle" title="Select on the map">${esc(a.vehicle_id)}</button></td>` +
    `<td class="atype">${esc(a.alert_type)}</td>` +
    `<td><span class="sev sev-${esc(sev)}">${esc(a.severity || '–')}</span></td>` +
    `<td class="msg" title="${esc(a.message)}"><div>${esc(a.message)}</div></td>` +
    `<td class="state" title="${esc(stateTitle)}">${stateText}</td>` +
    `<td class="actions">${
      state === 'active' ? '<button class="ack" title="Acknowledge as the operator named above">Acknowledge</button>' : ''
    }${a.event_id ? '<button class="trace ghost" title="Open the trace of the alert.raised event">Trace</button>' : ''}</td>`
  );
}

function renderAlerts() {
  if (!alertsDirty && alertRows.size) return;
  alertsDirty = false;
  const openOnly = $('#alerts-open-only').checked;
  const all = Array.from(store.alerts.values());
  all.sort((a, b) => b.raised_ms - a.raised_ms || collator.compare(b.alert_id, a.alert_id));
  let active = 0;
  for (const a of all) if (alertState(a) === 'active') active++;
  const shown = [];
  for (const a of all) {
    if (shown.length >= ALERT_LIMIT) break;
    if (openOnly && alertState(a) !== 'active') continue;
    shown.push(a);
  }
  const tbody = $('#alert-feed');
  const keep = new Set();
  let prev = null;
  for (const a of shown) {
    const state = alertState(a);
    let r = alertRows.get(a.alert_id);
    const sig = alertSig(a);
    if (!r) {
      const tr = document.createElement('tr');
      tr.dataset.alertId = a.alert_id;
      r = { tr, sig: null };
      alertRows.set(a.alert_id, r);
      if (alertsRendered) tr.classList.add('fresh');
    }
    if (r.sig !== sig) {
      r.sig = sig;
      r.tr.dataset.state = state;
      r.tr.dataset.alertType = a.alert_type;
      r.tr.dataset.severity = String(a.severity || '').toLowerCase();
      r.tr.dataset.vehicleId = a.vehicle_id;
      r.tr.innerHTML = alertRowHtml(a, state);
    }
    keep.add(a.alert_id);
    const expected = prev ? prev.nextSibling : tbody.firstChild;
    if (r.tr !== expected) tbody.insertBefore(r.tr, expected);
    prev = r.tr;
  }
  for (const [id, r] of alertRows) {
    if (!keep.has(id)) {
      r.tr.remove();
      alertRows.delete(id);
    }
  }
  if (shown.length) alertsRendered = true;
  $('#alert-count').textContent = `${active} active · ${all.length} in the feed`;
  $('#alert-empty').hidden = shown.length > 0;
}

function operatorName() {
  const v = $('#operator-name').value.trim();
  return v || 'operator';
}

async function acknowledge(a, btn) {
  btn.disabled = true;
  btn.textContent = 'Acknowledging…';
  const by = operatorName();
  try {
    const res = await postJSON(`api/alerts/${encodeURIComponent(a.alert_id)}/ack`, { by });
    if (res.alert) store.alerts.set(res.alert.alert_id, res.alert);
    if (res.outcome === 'already-acknowledged') {
      const who = res.alert && res.alert.acknowledged_by;
      toast(`Alert was already acknowledged${who ? ` by ${who}` : ''}.`, 'warn');
    } else if (res.outcome === 'not-found') {
      toast('The alerts service does not know this alert (cleared or expired).', 'warn');
    } else if (res.outcome !== 'acknowledged') {
      toast(`Acknowledge: ${res.outcome}`, 'warn');
    }
    if (!res.alert) {
      btn.disabled = false;
      btn.textContent = 'Acknowledge';
    }
    alertsDirty = true;
    renderAlerts();
    emit('alerts', res.alert ? [res.alert] : []);
  } catch (err) {
    btn.disabled = false;
    btn.textContent = 'Acknowledge';
    toast(`Could not acknowledge: ${err.message}`, 'error');
  }
}
