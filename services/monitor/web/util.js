// Small helpers shared by every view: escaping, number and time formatting, fetching, sparklines,
// and a guarded innerHTML setter.

export const $ = (sel, root = document) => root.querySelector(sel);

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes text for HTML content and attribute values. */
export function esc(s) {
  return s == null ? '' : String(s).replace(/[&<>"']/g, (c) => ESC[c]);
}

const DASH = '–';

function trimFixed(x, digits) {
  return x.toFixed(digits).replace(/\.0+$/, '');
}

/** A count: 1,234 up to 99,999, then 123k, 1.2M. */
export function fmtCount(n) {
  if (n == null || Number.isNaN(n)) return DASH;
  const a = Math.abs(n);
  if (a < 100000) return Math.round(n).toLocaleString('en-US');
  if (a < 1e6) return `${Math.round(n / 1e3)}k`;
  if (a < 1e9) return `${trimFixed(n / 1e6, a < 1e7 ? 1 : 0)}M`;
  return `${trimFixed(n / 1e9, 1)}G`;
}

/** A rate: 0, 0.4, 12, 1.2k, 34k, 1.2M (append "/s" with `unit`). */
export function fmtRate(x, unit = false) {
  if (x == null || Number.isNaN(x)) return DASH;
  const a = Math.abs(x);
  let s;
  if (a === 0) s = '0';
  else if (a < 0.05) s = '<0.1';
  else if (a < 10) s = trimFixed(x, 1);
  else if (a < 1000) s = String(Math.round(x));
  else if (a < 1e6) s = `${trimFixed(x / 1e3, a < 1e4 ? 1 : 0)}k`;
  else s = `${trimFixed(x / 1e6, a < 1e7 ? 1 : 0)}M`;
  return unit ? `${s}/s` : s;
}

/** Bytes: 512 B, 12 KB, 1.2 MB, 3.4 GB (binary multiples). */
export function fmtBytes(b) {
  if (b == null || Number.isNaN(b)) return DASH;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = b;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : trimFixed(v, v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Microseconds: 850 µs, 12.3 ms, 1.23 s. */
export function fmtUs(us) {
  if (us == null || Number.isNaN(us)) return DASH;
  const a = Math.abs(us);
  if (a < 1000) return `${Math.round(us)} µs`;
  if (a < 1e6) return `${trimFixed(us / 1000, a < 10000 ? 2 : 1)} ms`;
  return `${trimFixed(us / 1e6, 2)} s`;
}

export function fmtPct(p) {
  if (p == null || Number.isNaN(p)) return DASH;
  return `${trimFixed(p, p < 10 ? 1 : 0)}%`;
}

/** "now", "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function fmtAgo(ms, now) {
  if (!ms) return DASH;
  const s = Math.floor((now - ms) / 1000);
  if (s < 1) return 'now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A duration in ms, short: 45 s, 12 min, 3 h 5 min. */
export function fmtDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  const h = Math.floor(s / 3600);
  if (h < 48) return `${h} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(h / 24)} d`;
}

const pad2 = (n) => String(n).padStart(2, '0');

/** Local wall-clock time HH:MM:SS, with the date when it is not today. */
export function fmtTime(ms) {
  if (!ms) return DASH;
  const d = new Date(ms);
  const t = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return t;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${t}`;
}

/** Full local date and time, for tooltips. */
export function fmtDateTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(
    d.getMinutes(),
  )}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** An error carrying the HTTP status and the response text. */
export class HttpError extends Error {
  constructor(status, text, url) {
    super(`${status}${text ? `: ${text}` : ''}`);
    this.status = status;
    this.body = text;
    this.url = url;
  }
}

/** Fetches JSON; throws HttpError (with the body text) on a non-2xx answer. */
export async function fetchJSON(url, opts = {}) {
  const res = await fetch(url, { headers: { Accept: 'application/json' }, ...opts });
  if (!res.ok) {
    let text = '';
    try {
      text = (await res.text()).trim();
    } catch (_) {
      /* ignore */
    }
    throw new HttpError(res.status, text.slice(0, 500), url);
  }
  return res.json();
}

export function postJSON(url, body) {
  return fetchJSON(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
}

/** An inline SVG sparkline of `values` (oldest first) as a string. */
export function sparkline(values, { w = 84, h = 20, cls = '', fmt = String } = {}) {
  if (!values || values.length === 0) return `<svg class="spark empty" width="${w}" height="${h}"></svg>`;
  let max = 0;
  for (const v of values) if (v > max) max = v;
  const n = values.length;
  const step = n > 1 ? (w - 2) / (n - 1) : 0;
  const scale = max > 0 ? (h - 3) / max : 0;
  let line = '';
  for (let i = 0; i < n; i++) {
    const x = (n > 1 ? 1 + i * step : w / 2).toFixed(1);
    const y = (h - 1.5 - values[i] * scale).toFixed(1);
    line += `${i ? 'L' : 'M'}${x} ${y}`;
  }
  const lastX = (n > 1 ? 1 + (n - 1) * step : w / 2).toFixed(1);
  const firstX = (n > 1 ? 1 : w / 2).toFixed(1);
  const area = `${line}L${lastX} ${h}L${firstX} ${h}Z`;
  const last = values[n - 1];
  const title = `last ${fmt(last)}, max ${fmt(max)} (${n} polls)`;
  return (
    `<svg class="spark ${cls}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none">` +
    `<title>${esc(title)}</title><path class="area" d="${area}"/><path class="line" d="${line}"/></svg>`
  );
}

// Replacing innerHTML while a mouse button is down would swallow the click (the element under the
// pointer changes between press and release), so updates made meanwhile wait for the release.
let pointerDown = false;
const pending = new Map();
document.addEventListener('pointerdown', () => (pointerDown = true), true);
const release = () => {
  pointerDown = false;
  if (pending.size === 0) return;
  setTimeout(() => {
    for (const [el, html] of pending) {
      if (el._html !== html) {
        el._html = html;
        el.innerHTML = html;
      }
    }
    pending.clear();
  }, 0);
};
document.addEventListener('pointerup', release, true);
document.addEventListener('pointercancel', release, true);

/** Sets el.innerHTML unless it already is `html`; deferred while a pointer button is down. */
export function setHTML(el, html) {
  if (pointerDown) {
    pending.set(el, html);
    return;
  }
  pending.delete(el);
  if (el._html === html) return;
  el._html = html;
  el.innerHTML = html;
}

/** A short-lived message at the bottom of the page. */
let toastTimer = 0;
export function toast(msg, kind = 'info') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = msg;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 5000);
}

/** Ids sort naturally: V2 before V10. */
export const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
