// The fleet map: roads and vehicles on a <canvas>, no tiles.
//
// Projection: equirectangular, x = (lon - min_lon) * cos(mid_lat), y = max_lat - lat ("world"
// units, degrees of latitude), then screen = world * scale + (tx, ty) in CSS pixels. The roads are
// drawn once per view (and on resize) to an offscreen canvas; while panning or zooming that image
// is moved/scaled and redrawn sharp a moment after. Vehicles are drawn each frame, but frames are
// only requested when something changed (vehicles, selection, replay, hover, view).

import { store, emit } from './store.js';
import { fmtRate, esc } from './util.js';

export const STATUS_COLORS = { online: '#3fb950', unknown: '#d29922', offline: '#7d8590' };
const ALERT_COLOR = '#f85149';
const SELECT_COLOR = '#ffffff';
const REPLAY_COLOR = '#39c5cf';
const BG = '#0d1117';
const ROAD_STYLES = [
  // drawn in this order: minor roads under major ones
  { cls: 'residential', width: 1, color: '#273140' },
  { cls: 'other', width: 1, color: '#273140' },
  { cls: 'arterial', width: 2.4, color: '#3b4b61' },
  { cls: 'expressway', width: 3.6, color: '#52657f' },
];

let canvas;
let ctx;
let wrap;
let tip;
let legend;
const roadCanvas = document.createElement('canvas');
const rctx = roadCanvas.getContext('2d');

let W = 0; // CSS pixels
let H = 0;
let dpr = 1;

/** { lat0, lon0, kx, spanX, spanY, fromRoads } */
let proj = null;
/** Road segments in world units per style class: Float64Array [x1, y1, x2, y2, ...]. */
let roadWorld = null;
const view = { scale: 1, tx: 0, ty: 0, fitScale: 1, fitted: true };
/** The view the road image was drawn with. */
let roadView = null;
let roadTimer = 0;

let dirty = true;
let raf = 0;
let frame = 0;

// Screen positions of the vehicles drawn in the last frame, for hit testing.
let hitN = 0;
let hitX = new Float32Array(1024);
let hitY = new Float32Array(1024);
let hitCls = new Uint8Array(1024);
let hitIds = [];
const STATUS_NAMES = ['online', 'unknown', 'offline'];

let hoverId = null;
let lastLegend = '';

export function initMap() {
  canvas = document.getElementById('map');
  ctx = canvas.getContext('2d', { alpha: false });
  wrap = document.getElementById('map-wrap');
  tip = document.getElementById('map-tip');
  legend = document.getElementById('map-legend');
  new ResizeObserver(resize).observe(wrap);
  setupInteraction();
  document.getElementById('map-fit').addEventListener('click', () => {
    fit();
    renderRoads();
    requestDraw();
  });
  document.getElementById('map-zoom-in').addEventListener('click', () => zoomAt(W / 2, H / 2, 1.6));
  document.getElementById('map-zoom-out').addEventListener('click', () => zoomAt(W / 2, H / 2, 1 / 1.6));
}

/** Asks for a redraw at the next animation frame (only while the fleet tab is shown). */
export function requestDraw() {
  dirty = true;
  if (raf || store.activeTab !== 'fleet') return;
  raf = requestAnimationFrame(() => {
    raf = 0;
    if (dirty && store.activeTab === 'fleet') draw();
  });
}

/** New roads: rebuild the projection and the road image. */
export function setRoads() {
  proj = null;
  roadWorld = null;
  view.fitted = true;
  ensureProjection();
  renderRoads();
  requestDraw();
}

/** Centres the view on a vehicle (zooming in if the whole city is shown). */
export function centerOn(id) {
  const v = store.vehicles.get(id);
  if (!v || v.lat == null || v.lon == null || !proj) return;
  if (view.scale < view.fitScale * 4) view.scale = view.fitScale * 4;
  const [wx, wy] = toWorld(v.lat, v.lon);
  view.tx = W / 2 - wx * view.scale;
  view.ty = H / 2 - wy * view.scale;
  view.fitted = false;
  scheduleRoads();
  requestDraw();
}

function toWorld(lat, lon) {
  return [(lon - proj.lon0) * proj.kx, proj.lat0 - lat];
}

function ensureProjection() {
  if (proj && (proj.fromRoads || !store.roads)) return;
  let b = store.roads && store.roads.bounds;
  let fromRoads = true;
  if (!b || !(b[2] > b[0]) || !(b[3] > b[1])) {
    // No usable road bounds: take the vehicles' extent.
    fromRoads = false;
    let minLat = Infinity;
    let minLon = Infinity;
    let maxLat = -Infinity;
    let maxLon = -Infinity;
    for (const v of store.vehicles.values()) {
      if (v.lat == null || v.lon == null) continue;
      if (v.lat < minLat) minLat = v.lat;
      if (v.lat > maxLat) maxLat = v.lat;
      if (v.lon < minLon) minLon = v.lon;
      if (v.lon > maxLon) maxLon = v.lon;
    }
    if (minLat === Infinity) return;
    const m = 0.005;
    b = [minLat - m, minLon - m, maxLat + m, maxLon + m];
  }
  const midLat = (b[0] + b[2]) / 2;
  const kx = Math.cos((midLat * Math.PI) / 180);
  proj = { lat0: b[2], lon0: b[1], kx, spanX: (b[3] - b[1]) * kx, spanY: b[2] - b[0], fromRoads };
  buildRoadWorld();
  if (view.fitted) fit();
}

function buildRoadWorld() {
  roadWorld = null;
  const segs = (store.roads && store.roads.segments) || [];
  if (!proj || segs.length === 0) return;
  const groups = new Map(ROAD_STYLES.map((s) => [s.cls, []]));
  for (const s of segs) {
    const g = groups.get(s.class) || groups.get('other');
    g.push(
      (s.from[1] - proj.lon0) * proj.kx,
      proj.lat0 - s.from[0],
      (s.to[1] - proj.lon0) * proj.kx,
      proj.lat0 - s.to[0],
    );
  }
  roadWorld = ROAD_STYLES.map((s) => ({ ...s, xy: Float64Array.from(groups.get(s.cls)) }));
}

function fit() {
  view.fitted = true;
  if (!proj || W === 0 || H === 0) return;
  const pad = 18;
  const sx = proj.spanX > 0 ? (W - 2 * pad) / proj.spanX : Infinity;
  const sy = proj.spanY > 0 ? (H - 2 * pad) / proj.spanY : Infinity;
  let scale = Math.min(sx, sy);
  if (!Number.isFinite(scale) || scale <= 0) scale = 10000;
  view.scale = scale;
  view.fitScale = scale;
  view.tx = (W - proj.spanX * scale) / 2;
  view.ty = (H - proj.spanY * scale) / 2;
}

function resize() {
  const r = wrap.getBoundingClientRect();
  const w = Math.floor(r.width);
  const h = Math.floor(r.height);
  if (w === 0 || h === 0) return; // hidden
  dpr = window.devicePixelRatio || 1;
  if (w === W && h === H && canvas.width === Math.round(w * dpr)) return;
  const oldW = W;
  const oldH = H;
  W = w;
  H = h;
  canvas.width = Math.round(W * dpr);
  canvas.height = Math.round(H * dpr);
  canvas.style.width = `${W}px`;
  canvas.style.height = `${H}px`;
  ensureProjection();
  if (view.fitted) fit();
  else {
    // keep the centre where it was
    view.tx += (W - oldW) / 2;
    view.ty += (H - oldH) / 2;
    const pad = 18;
    if (proj) view.fitScale = Math.min((W - 2 * pad) / proj.spanX, (H - 2 * pad) / proj.spanY);
  }
  renderRoads();
  requestDraw();
}

function roadWidthFactor() {
  return Math.min(3, Math.max(1, Math.sqrt(view.scale / view.fitScale)));
}

/** Draws the roads, as seen with the current view, to the offscreen canvas. */
function renderRoads() {
  clearTimeout(roadTimer);
  roadTimer = 0;
  if (W === 0 || H === 0) return;
  roadCanvas.width = Math.round(W * dpr);
  roadCanvas.height = Math.round(H * dpr);
  rctx.setTransform(1, 0, 0, 1, 0, 0);
  rctx.fillStyle = BG;
  rctx.fillRect(0, 0, roadCanvas.width, roadCanvas.height);
  roadView = { scale: view.scale, tx: view.tx, ty: view.ty };
  if (!roadWorld) return;
  rctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  rctx.lineCap = 'round';
  const { scale, tx, ty } = view;
  const k = roadWidthFactor();
  // Skip segments entirely off screen (cheap when zoomed in).
  const x0 = -10;
  const y0 = -10;
  const x1 = W + 10;
  const y1 = H + 10;
  for (const style of roadWorld) {
    const xy = style.xy;
    if (xy.length === 0) continue;
    rctx.beginPath();
    for (let i = 0; i < xy.length; i += 4) {
      const ax = xy[i] * scale + tx;
      const ay = xy[i + 1] * scale + ty;
      const bx = xy[i + 2] * scale + tx;
      const by = xy[i + 3] * scale + ty;
      if ((ax < x0 && bx < x0) || (ax > x1 && bx > x1) || (ay < y0 && by < y0) || (ay > y1 && by > y1)) continue;
      rctx.moveTo(ax, ay);
      rctx.lineTo(bx, by);
    }
    rctx.strokeStyle = style.color;
    rctx.lineWidth = style.width * k;
    rctx.stroke();
  }
}

/** Re-renders the roads sharp a moment after the view stopped changing. */
function scheduleRoads() {
  clearTimeout(roadTimer);
  roadTimer = setTimeout(() => {
    renderRoads();
    requestDraw();
  }, 120);
}

function zoomAt(x, y, f) {
  if (!proj) return;
  const min = view.fitScale * 0.5;
  const max = view.fitScale * 400;
  const next = Math.min(max, Math.max(min, view.scale * f));
  f = next / view.scale;
  if (f === 1) return;
  view.tx = x - (x - view.tx) * f;
  view.ty = y - (y - view.ty) * f;
  view.scale = next;
  view.fitted = false;
  scheduleRoads();
  requestDraw();
}

/** Position of the replay marker at time t (linear between points). */
export function replayPosition(r) {
  const p = r.points;
  if (p.length === 0) return null;
  const t = r.t;
  if (t <= p[0].time_ms) return p[0];
  if (t >= p[p.length - 1].time_ms) return p[p.length - 1];
  let lo = 0;
  let hi = p.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (p[mid].time_ms <= t) lo = mid;
    else hi = mid;
  }
  const a = p[lo];
  const b = p[hi];
  const span = b.time_ms - a.time_ms;
  const f = span > 0 ? (t - a.time_ms) / span : 0;
  return {
    time_ms: t,
    lat: a.lat + (b.lat - a.lat) * f,
    lon: a.lon + (b.lon - a.lon) * f,
    speed_kmh: a.speed_kmh + (b.speed_kmh - a.speed_kmh) * f,
    index: lo,
  };
}

function draw() {
  dirty = false;
  frame++;
  ensureProjection();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  if (roadView) {
    const f = view.scale / roadView.scale;
    if (f !== 1 || roadView.tx !== view.tx || roadView.ty !== view.ty) {
      ctx.fillStyle = BG;
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
    ctx.drawImage(
      roadCanvas,
      (view.tx - roadView.tx * f) * dpr,
      (view.ty - roadView.ty * f) * dpr,
      roadCanvas.width * f,
      roadCanvas.height * f,
    );
  } else {
    ctx.fillStyle = BG;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);

  let drawn = 0;
  let moving = 0;
  const counts = { online: 0, unknown: 0, offline: 0, alerting: 0 };
  if (proj) {
    const { scale, tx, ty } = view;
    const { lat0, lon0, kx } = proj;
    const zoom = view.scale / view.fitScale;
    const r = Math.min(6, Math.max(2.2, 2.2 * Math.sqrt(zoom)));
    const showHeading = zoom >= 6;
    const n = store.vehicles.size;
    if (hitX.length < n) {
      hitX = new Float32Array(n * 2);
      hitY = new Float32Array(n * 2);
      hitCls = new Uint8Array(n * 2);
    }
    hitIds = new Array(n);
    // Pass 1: project, count, cull. Class per visible vehicle: 0 online, 1 unknown, 2 offline,
    // +4 with active alerts, +8 moving with a heading (the heading itself in hitHead).
    let h = 0;
    for (const v of store.vehicles.values()) {
      const lat = v.lat;
      const lon = v.lon;
      if (lat == null || lon == null) continue;
      drawn++;
      const sp = v.speed_kmh;
      if (sp > 0) moving++;
      const alerting = v.active_alerts && v.active_alerts.length > 0;
      const st = v.status === 'online' ? 0 : v.status === 'unknown' ? 1 : 2;
      counts[STATUS_NAMES[st]]++;
      if (alerting) counts.alerting++;
      const x = (lon - lon0) * kx * scale + tx;
      const y = (lat0 - lat) * scale + ty;
      if (x < -8 || y < -8 || x > W + 8 || y > H + 8) continue;
      hitX[h] = x;
      hitY[h] = y;
      hitIds[h] = v.id;
      hitCls[h] = st | (alerting ? 4 : 0) | (showHeading && sp > 0 && v.heading_deg != null ? 8 : 0);
      h++;
    }
    hitN = h;
    // Pass 2: one path per colour. Thousands of tiny circles are slow to rasterize without a GPU;
    // when that many are on screen, small squares look the same and cost a fifth.
    const squares = h > 2500 && r < 3.5;
    const paths = [new Path2D(), new Path2D(), new Path2D()];
    const rings = new Path2D();
    const headings = showHeading ? new Path2D() : null;
    const side = r * 1.8;
    const half = side / 2;
    const tau = Math.PI * 2;
    for (let i = 0; i < h; i++) {
      const x = hitX[i];
      const y = hitY[i];
      const c = hitCls[i];
      const p = paths[c & 3];
      if (squares) p.rect(x - half, y - half, side, side);
      else {
        p.moveTo(x + r, y);
        p.arc(x, y, r, 0, tau);
      }
      if (c & 4) {
        rings.moveTo(x + r + 2.2, y);
        rings.arc(x, y, r + 2.2, 0, tau);
      }
      if (c & 8) {
        const v = store.vehicles.get(hitIds[i]);
        const a = (v.heading_deg * Math.PI) / 180;
        headings.moveTo(x + Math.sin(a) * r, y - Math.cos(a) * r);
        headings.lineTo(x + Math.sin(a) * (r + 6), y - Math.cos(a) * (r + 6));
      }
    }
    paths.offline = paths[2];
    paths.unknown = paths[1];
    paths.online = paths[0];
    ctx.fillStyle = STATUS_COLORS.offline;
    ctx.fill(paths.offline);
    ctx.fillStyle = STATUS_COLORS.unknown;
    ctx.fill(paths.unknown);
    ctx.fillStyle = STATUS_COLORS.online;
    ctx.fill(paths.online);
    if (headings) {
      ctx.strokeStyle = 'rgba(230,237,243,0.7)';
      ctx.lineWidth = 1.2;
      ctx.stroke(headings);
    }
    ctx.strokeStyle = ALERT_COLOR;
    ctx.lineWidth = 1.6;
    ctx.stroke(rings);

    drawReplay(r);
    if (hoverId && hoverId !== store.selectedId) drawMarker(store.vehicles.get(hoverId), r, 'rgba(255,255,255,0.6)', false);
    if (store.selectedId) drawMarker(store.vehicles.get(store.selectedId), r, SELECT_COLOR, true);
  } else {
    ctx.fillStyle = '#7d8590';
    ctx.font = '14px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText('No roads and no positioned vehicles yet', W / 2, H / 2);
    ctx.textAlign = 'start';
  }

  canvas.dataset.vehicles = String(drawn);
  canvas.dataset.moving = String(moving);
  canvas.dataset.frame = String(frame);
  updateLegend(drawn, moving, counts);
}

function project(lat, lon) {
  return [(lon - proj.lon0) * proj.kx * view.scale + view.tx, (proj.lat0 - lat) * view.scale + view.ty];
}

function drawMarker(v, r, color, label) {
  if (!v || v.lat == null || v.lon == null) return;
  const [x, y] = project(v.lat, v.lon);
  ctx.beginPath();
  ctx.arc(x, y, r + 5, 0, Math.PI * 2);
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.stroke();
  if (!label) return;
  ctx.font = '600 12px system-ui, sans-serif';
  const text = v.id;
  const tw = ctx.measureText(text).width;
  const lx = Math.min(W - tw - 10, x + r + 8);
  const ly = Math.max(14, y - r - 8);
  ctx.fillStyle = 'rgba(13,17,23,0.85)';
  ctx.fillRect(lx - 4, ly - 12, tw + 8, 16);
  ctx.fillStyle = '#fff';
  ctx.fillText(text, lx, ly);
}

function drawReplay(r) {
  const rp = store.replay;
  if (!rp || rp.points.length === 0) return;
  const pts = rp.points;
  const pos = replayPosition(rp);
  // the whole path, faint
  ctx.lineJoin = 'round';
  ctx.lineCap = 'round';
  ctx.beginPath();
  for (let i = 0; i < pts.length; i++) {
    const [x, y] = project(pts[i].lat, pts[i].lon);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  }
  ctx.strokeStyle = 'rgba(57,197,207,0.35)';
  ctx.lineWidth = 3;
  ctx.stroke();
  // the part already driven
  if (pos) {
    ctx.beginPath();
    const last = pos.index == null ? (rp.t >= pts[pts.length - 1].time_ms ? pts.length - 1 : 0) : pos.index;
    for (let i = 0; i <= last; i++) {
      const [x, y] = project(pts[i].lat, pts[i].lon);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    const [px, py] = project(pos.lat, pos.lon);
    ctx.lineTo(px, py);
    ctx.strokeStyle = REPLAY_COLOR;
    ctx.lineWidth = 3;
    ctx.stroke();
  }
  // start and end
  const [sx, sy] = project(pts[0].lat, pts[0].lon);
  const [ex, ey] = project(pts[pts.length - 1].lat, pts[pts.length - 1].lon);
  ctx.fillStyle = '#e6edf3';
  ctx.fillRect(sx - 3, sy - 3, 6, 6);
  ctx.strokeStyle = '#e6edf3';
  ctx.lineWidth = 2;
  ctx.strokeRect(ex - 4, ey - 4, 8, 8);
  if (pos) {
    const [px, py] = project(pos.lat, pos.lon);
    ctx.beginPath();
    ctx.arc(px, py, r + 3.5, 0, Math.PI * 2);
    ctx.fillStyle = REPLAY_COLOR;
    ctx.fill();
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 2;
    ctx.stroke();
  }
}

function updateLegend(drawn, moving, c) {
  const total = store.vehicles.size;
  const html =
    `<span><i style="background:${STATUS_COLORS.online}"></i>online ${c.online.toLocaleString('en-US')}</span>` +
    `<span><i style="background:${STATUS_COLORS.unknown}"></i>unknown ${c.unknown.toLocaleString('en-US')}</span>` +
    `<span><i style="background:${STATUS_COLORS.offline}"></i>offline ${c.offline.toLocaleString('en-US')}</span>` +
    `<span><i class="ring"></i>alerting ${c.alerting.toLocaleString('en-US')}</span>` +
    `<span class="muted">${moving.toLocaleString('en-US')} moving · ${drawn.toLocaleString('en-US')}/${total.toLocaleString(
      'en-US',
    )} on map</span>`;
  if (html !== lastLegend) {
    lastLegend = html;
    legend.innerHTML = html;
  }
}

/** The id of the vehicle drawn nearest to (x, y), within `radius` CSS pixels. */
function hitTest(x, y, radius) {
  let best = null;
  let bestD = radius * radius;
  for (let i = 0; i < hitN; i++) {
    const dx = hitX[i] - x;
    const dy = hitY[i] - y;
    const d = dx * dx + dy * dy;
    if (d <= bestD) {
      bestD = d;
      best = hitIds[i];
    }
  }
  return best;
}

function showTip(id, x, y) {
  const v = id && store.vehicles.get(id);
  if (!v) {
    tip.hidden = true;
    return;
  }
  const alerts = v.active_alerts && v.active_alerts.length ? `<div class="tip-alerts">${esc(v.active_alerts.join(', '))}</div>` : '';
  tip.innerHTML =
    `<b>${esc(v.id)}</b> <span class="st st-${esc(v.status)}">${esc(v.status)}</span><br>` +
    `${v.speed_kmh == null ? '–' : `${fmtRate(v.speed_kmh)} km/h`}${alerts}`;
  tip.hidden = false;
  const tw = tip.offsetWidth;
  tip.style.left = `${Math.min(W - tw - 4, x + 14)}px`;
  tip.style.top = `${Math.max(4, y - 10)}px`;
}

function setupInteraction() {
  let down = null; // { x, y, tx, ty, moved }
  let hoverPending = null;

  const local = (e) => {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };

  canvas.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    const [x, y] = local(e);
    down = { x, y, tx: view.tx, ty: view.ty, moved: false };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointermove', (e) => {
    const [x, y] = local(e);
    if (down) {
      const dx = x - down.x;
      const dy = y - down.y;
      if (!down.moved && dx * dx + dy * dy < 16) return;
      down.moved = true;
      canvas.classList.add('dragging');
      view.tx = down.tx + dx;
      view.ty = down.ty + dy;
      view.fitted = false;
      tip.hidden = true;
      scheduleRoads();
      requestDraw();
      return;
    }
    // hover: hit-test at most once per frame
    if (hoverPending) {
      hoverPending = [x, y];
      return;
    }
    hoverPending = [x, y];
    requestAnimationFrame(() => {
      const [hx, hy] = hoverPending;
      hoverPending = null;
      const id = hitTest(hx, hy, 8);
      if (id !== hoverId) {
        hoverId = id;
        canvas.style.cursor = id ? 'pointer' : '';
        requestDraw();
      }
      showTip(id, hx, hy);
    });
  });
  const up = (e) => {
    if (!down) return;
    const wasClick = !down.moved;
    down = null;
    canvas.classList.remove('dragging');
    if (wasClick && e.type === 'pointerup') {
      const [x, y] = local(e);
      const id = hitTest(x, y, 10);
      if (id) emit('select', id);
    }
  };
  canvas.addEventListener('pointerup', up);
  canvas.addEventListener('pointercancel', up);
  canvas.addEventListener('pointerleave', () => {
    tip.hidden = true;
    if (hoverId) {
      hoverId = null;
      requestDraw();
    }
  });
  canvas.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const [x, y] = local(e);
      const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      zoomAt(x, y, Math.exp(-delta * 0.0015));
    },
    { passive: false },
  );
  canvas.addEventListener('dblclick', (e) => {
    const [x, y] = local(e);
    zoomAt(x, y, 2);
  });
}
