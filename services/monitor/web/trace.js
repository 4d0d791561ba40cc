// The trace tab: an event's journey (GET api/traces) as an indented tree with a timeline, x = time
// since the root message was published.

import { $, esc, fmtUs, fmtDateTime, fetchJSON } from './util.js';

let reqSeq = 0;

export function initTrace() {
  const form = $('#trace-form');
  const ev = $('#trace-event-id');
  const veh = $('#trace-vehicle-id');
  // One question at a time: typing in one field clears the other.
  ev.addEventListener('input', () => {
    if (ev.value) veh.value = '';
  });
  veh.addEventListener('input', () => {
    if (veh.value) ev.value = '';
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    runTrace();
  });
  $('#trace-result').addEventListener('click', (e) => {
    const a = e.target.closest('[data-trace-event]');
    if (!a) return;
    e.preventDefault();
    openTrace({ event_id: a.dataset.traceEvent });
  });
}

/** Switches to the trace tab and shows the journey of an event (or a vehicle's latest). */
export function openTrace({ event_id, vehicle_id }) {
  $('#trace-event-id').value = event_id || '';
  $('#trace-vehicle-id').value = event_id ? '' : vehicle_id || '';
  if (location.hash !== '#trace') location.hash = '#trace';
  runTrace();
}

export async function runTrace() {
  const eventId = $('#trace-event-id').value.trim();
  const vehicleId = $('#trace-vehicle-id').value.trim();
  const out = $('#trace-result');
  if (!eventId && !vehicleId) {
    out.dataset.state = 'empty';
    out.innerHTML = '<div class="notice">Enter an event id or a vehicle id.</div>';
    return;
  }
  const q = eventId ? `event_id=${encodeURIComponent(eventId)}` : `vehicle_id=${encodeURIComponent(vehicleId)}`;
  const what = eventId ? `event ${eventId}` : `the latest event of vehicle ${vehicleId}`;
  const seq = ++reqSeq;
  out.dataset.state = 'loading';
  out.innerHTML = `<div class="notice">Asking the services about ${esc(what)}…</div>`;
  let journey;
  try {
    journey = await fetchJSON(`api/traces?${q}`);
  } catch (err) {
    if (seq !== reqSeq) return;
    out.dataset.state = err.status === 404 ? 'not-found' : 'error';
    if (err.status === 404) {
      out.innerHTML =
        `<div class="notice warn"><b>No trace found for ${esc(what)}.</b>` +
        (err.body ? `<div class="muted">${esc(err.body)}</div>` : '') +
        `<div class="muted small">Traces are kept for a limited time, and only events that went over the bus have one.</div></div>`;
    } else {
      out.innerHTML = `<div class="notice error"><b>Could not load the trace.</b><div class="muted">${esc(
        err.message || String(err),
      )}</div></div>`;
    }
    return;
  }
  if (seq !== reqSeq) return;
  out.dataset.state = 'ok';
  out.innerHTML = renderJourney(journey);
}

function renderJourney(j) {
  const hops = j.hops || [];
  // time origin: the root's publish, else the earliest thing known
  let t0 = null;
  let tEnd = null;
  const see = (t) => {
    if (t == null) return;
    if (tEnd == null || t > tEnd) tEnd = t;
  };
  const root = hops.find((h) => h.depth === 0) || hops[0];
  if (root && root.published_us != null) t0 = root.published_us;
  let earliest = null;
  const early = (t) => {
    if (t != null && (earliest == null || t < earliest)) earliest = t;
  };
  let handlings = 0;
  for (const h of hops) {
    early(h.published_us);
    see(h.published_us);
    for (const x of h.handlings || []) {
      handlings++;
      const start = x.wait_us != null ? x.received_us - x.wait_us : x.received_us;
      early(start);
      see(x.received_us + (x.handler_us || 0));
    }
  }
  if (t0 == null) t0 = earliest;
  if (t0 != null && earliest != null && earliest < t0) t0 = earliest;
  const span = t0 != null && tEnd != null ? Math.max(1, tEnd - t0) : 1;
  const pct = (t) => Math.max(0, Math.min(100, ((t - t0) / span) * 100));

  let html =
    `<div class="trace-summary">` +
    `<span>trace <code>${esc(j.trace_id)}</code></span>` +
    `<span>event <code>${esc(j.event_id)}</code></span>` +
    `<span>${hops.length} message${hops.length === 1 ? '' : 's'}, ${handlings} handling${handlings === 1 ? '' : 's'}</span>` +
    `<span>end to end <b>${fmtUs(t0 == null ? null : span)}</b></span>` +
    `</div>`;

  html += `<div class="trace-legend"><span><i class="lg-pub"></i>published</span><span><i class="lg-wait"></i>waiting (broker, queue)</span>` +
    `<span><i class="lg-run out-handled"></i>handled</span><span><i class="lg-run out-failed"></i>failed / dead-lettered / rejected</span>` +
    `<span><i class="lg-run out-retried"></i>retried / duplicate</span></div>`;

  html += `<div class="trace-grid"><div class="tg-head"><div>Message · handling</div><div class="axis">`;
  for (let i = 0; i <= 4; i++) html += `<span style="left:${i * 25}%">${t0 == null ? '' : fmtUs((span * i) / 4)}</span>`;
  html += `</div></div>`;

  for (const h of hops) {
    const asked = h.event_id === j.event_id;
    const at = h.published_us != null && t0 != null ? `+${fmtUs(h.published_us - t0)}` : '–';
    const by = h.published_by ? esc(h.published_by) : '<span class="muted">publisher did not answer</span>';
    html +=
      `<div class="hop${asked ? ' asked' : ''}" data-hop-type="${esc(h.type)}" data-event-id="${esc(h.event_id)}" data-depth="${h.depth}" style="--depth:${h.depth}">` +
      `<div class="info"><span class="tree"></span>` +
      `<span class="htype">${esc(h.type)}</span>` +
      (h.subject ? ` <span class="subject">${esc(h.subject)}</span>` : '') +
      `<div class="meta">` +
      `<a href="#trace" class="mono" data-trace-event="${esc(h.event_id)}" title="event id">${esc(h.event_id)}</a>` +
      ` · by ${by} · <span title="${esc(h.published_us != null ? fmtDateTime(h.published_us / 1000) : '')}">${at}</span></div>` +
      `</div><div class="tl">` +
      (h.published_us != null && t0 != null ? `<span class="pub" style="left:${pct(h.published_us).toFixed(2)}%"></span>` : '') +
      `</div></div>`;
    for (const x of h.handlings || []) {
      const start = x.wait_us != null ? x.received_us - x.wait_us : x.received_us;
      const outcome = String(x.outcome || '');
      const wl = pct(start);
      const wr = pct(x.received_us);
      const rr = pct(x.received_us + (x.handler_us || 0));
      html +=
        `<div class="handling" data-outcome="${esc(outcome)}" data-by="${esc(x.by)}" style="--depth:${h.depth}">` +
        `<div class="info"><span class="tree"></span>` +
        `<span class="by">${esc(x.by)}</span> <span class="outcome out-${esc(outcome)}">${esc(outcome)}</span>` +
        `<div class="meta">queue <span class="mono">${esc(x.queue)}</span> · wait ${fmtUs(x.wait_us)} · handler ${fmtUs(x.handler_us)}</div>` +
        `</div><div class="tl" title="wait ${esc(fmtUs(x.wait_us))}, handler ${esc(fmtUs(x.handler_us))}">` +
        (x.wait_us != null ? `<span class="wait" style="left:${wl.toFixed(2)}%;width:${(wr - wl).toFixed(2)}%"></span>` : '') +
        `<span class="run out-${esc(outcome)}" style="left:${wr.toFixed(2)}%;width:${(rr - wr).toFixed(2)}%"></span>` +
        `</div></div>`;
    }
  }
  if (hops.length === 0) html += `<div class="notice">The trace has no messages.</div>`;
  html += `</div>`;

  const answered = j.answered || [];
  const missing = j.missing || [];
  html +=
    `<div class="trace-instances"><div><h3>Answered (${answered.length})</h3>` +
    (answered.length ? answered.map((i) => `<span class="chip chip-ok" data-answered="${esc(i)}">${esc(i)}</span>`).join(' ') : '<span class="muted">none</span>') +
    `</div><div><h3>Missing (${missing.length})</h3>` +
    (missing.length
      ? missing.map((i) => `<span class="chip chip-missing" data-missing="${esc(i)}">${esc(i)}</span>`).join(' ') +
        `<div class="muted small">These instances did not answer in time: what they published or handled is missing above.</div>`
      : '<span class="muted">none — every instance answered</span>') +
    `</div></div>`;
  return html;
}
