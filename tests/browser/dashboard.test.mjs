// The operators' dashboard in a real headless Chromium (Debian's chromium, driven by
// playwright-core), against a running `instadash up` with the every-event scenario. One browser,
// one page, the checks in order: the page works offline, the fleet map shows moving cars, the
// scripted harsh brake appears and is acknowledged through the alerts service, the bus, the
// services and the trace views. Each view leaves a screenshot in SCREENSHOT_DIR.
//
// Run by tests/tests/dashboard.rs (which starts `instadash up` and runs scripts/browser-env);
// by hand:
//   DASHBOARD_URL=http://127.0.0.1:8080/ SCREENSHOT_DIR=/tmp/shots \
//     node --test tests/browser/dashboard.test.mjs
//
// Environment:
//   DASHBOARD_URL   the dashboard (required)
//   SCREENSHOT_DIR  where the screenshots go (required)
//   SCENARIO        the scenario `up` runs (default: the every-event scenario of the simulator)
//   CHROMIUM        the browser (default /usr/bin/chromium, what scripts/browser-env installs)
//
// Every wait is bounded and says what it was waiting for, and what it saw last, when it times out.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const DASHBOARD_URL = requiredEnv('DASHBOARD_URL');
const SCREENSHOT_DIR = requiredEnv('SCREENSHOT_DIR');
const SCENARIO =
  process.env.SCENARIO || path.join(here, '../../services/simulator/scenarios/every-event.toml');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ORIGIN = new URL(DASHBOARD_URL).origin;

// The services `instadash up` runs, and the simulator beside them.
const SERVICES = ['tracker', 'alerts', 'trips', 'dashcam', 'monitor', 'simulator'];
// Each service's subscription queue.
const EVENT_QUEUES = ['tracker', 'alerts', 'trips', 'dashcam', 'monitor'].map((s) => `instadash.events.${s}`);

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set (see the comment at the top of ${path.basename(import.meta.url)})`);
  return value;
}

// ---- the scenario ------------------------------------------------------------------------------

/** The cars of the scenario file (`[[car]]` tables), each with its id and its lines. */
function scenarioCars(file) {
  const text = readFileSync(file, 'utf8');
  const blocks = text.split(/^\[\[car\]\]\s*$/m).slice(1);
  return blocks.map((block) => {
    const id = /^id\s*=\s*"([^"]+)"/m.exec(block);
    assert.ok(id, `a [[car]] of ${file} without an id`);
    return { id: id[1], text: block };
  });
}

const cars = scenarioCars(SCENARIO);
// The car whose script brakes hard (`harsh_brake = true`).
const brakingCar = cars.find((c) => /harsh_brake\s*=\s*true/.test(c.text));

// ---- polling -----------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `check` every `every` ms until it returns `{ done: true, value }`; throws after `timeout`
 * ms with `what` and the last `seen` (what `check` reported) in the message.
 */
async function waitFor(what, check, { timeout = 20_000, every = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let seen = 'nothing yet';
  for (;;) {
    try {
      const r = await check();
      if (r.done) return r.value;
      seen = r.seen ?? seen;
    } catch (err) {
      seen = `error: ${err.message}`;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}; last seen: ${typeof seen === 'string' ? seen : JSON.stringify(seen)}`);
    }
    await sleep(every);
  }
}

// ---- the browser -------------------------------------------------------------------------------

let browser;
let page;
const foreign = []; // requests to any other origin (aborted)
const consoleErrors = [];
const pageErrors = [];

const VIEWPORT = { width: 1440, height: 900 };

/**
 * Saves a screenshot of the window; with `whole`, of the whole current view: the views scroll
 * inside the page, so the window is made as tall as the view's content for the picture.
 */
async function screenshot(name, { whole = false } = {}) {
  const file = path.join(SCREENSHOT_DIR, name);
  if (whole) {
    const height = await page.evaluate(() => {
      const view = document.getElementById(`view-${document.body.dataset.view}`);
      return Math.ceil(view.getBoundingClientRect().top + view.scrollHeight);
    });
    await page.setViewportSize({ width: VIEWPORT.width, height: Math.min(Math.max(height, VIEWPORT.height), 4000) });
    await page.screenshot({ path: file });
    await page.setViewportSize(VIEWPORT);
  } else {
    await page.screenshot({ path: file });
  }
  console.log(`screenshot: ${file}`);
}

/** GET `url` from the page (same origin, as the dashboard itself fetches), as JSON. */
async function pageJSON(url) {
  return page.evaluate(async (u) => {
    const res = await fetch(u, { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`GET ${u}: ${res.status} ${await res.text()}`);
    return res.json();
  }, url);
}

/** Attributes of the first element matching `selector` (dataset, text), or null. */
async function element(selector) {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel);
    return el ? { ...el.dataset, text: el.textContent.trim() } : null;
  }, selector);
}

async function showTab(tab) {
  await page.click(`[data-tab=${tab}]`);
  await waitFor(`the ${tab} view`, async () => {
    const view = await page.evaluate((t) => document.body.dataset.view === t && !document.getElementById(`view-${t}`).hidden, tab);
    return { done: view, seen: `body[data-view=${await page.evaluate(() => document.body.dataset.view)}]` };
  });
}

before(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const context = await browser.newContext({ viewport: VIEWPORT });
  page = await context.newPage();
  // Offline: nothing but the dashboard's own origin is fetched (no CDN, font or tile server).
  await page.route('**/*', (route) => {
    const url = route.request().url();
    let origin = null;
    try {
      origin = new URL(url).origin;
    } catch (_) {
      /* not a URL with an origin */
    }
    if (origin === ORIGIN) return route.continue();
    foreign.push(url);
    return route.abort('blockedbyclient');
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const at = msg.location();
      consoleErrors.push(`${msg.text()}${at && at.url ? ` (${at.url}:${at.lineNumber})` : ''}`);
    }
  });
  page.on('pageerror', (err) => pageErrors.push(String(err && err.stack ? err.stack : err)));
});

after(async () => {
  if (browser) await browser.close();
});

function assertNoErrors(when) {
  assert.deepEqual(foreign, [], `${when}: the page requested other hosts than ${ORIGIN}`);
  assert.deepEqual(pageErrors, [], `${when}: uncaught errors on the page`);
  assert.deepEqual(consoleErrors, [], `${when}: errors on the console`);
}

// ---- the checks, in order ----------------------------------------------------------------------

// Set once the page is up: the later checks fail at once without it, instead of each waiting
// out its timeout on a page that is not there.
let loaded = false;
const assertLoaded = () => assert.ok(loaded, 'the dashboard did not load (see the first failure)');

test('the page loads offline, without errors, and goes live', async () => {
  const response = await page.goto(DASHBOARD_URL, { waitUntil: 'load', timeout: 20_000 });
  assert.ok(response && response.ok(), `GET ${DASHBOARD_URL}: ${response && response.status()}`);
  await waitFor('#live[data-live=true] (the server-sent events connected)', async () => {
    const live = await element('#live');
    return { done: live && live.live === 'true', seen: live };
  });
  // The initial fetches and the first pushed overview have arrived by now.
  await waitFor('the first overview', async () => {
    const summary = await element('#summary');
    return { done: summary && summary.text.includes('broker'), seen: summary };
  });
  assertNoErrors('after loading');
  loaded = true;
});

let harshBrake; // the acknowledged alert, for the trace

test("the map draws the scenario's vehicles and they move", async () => {
  assertLoaded();
  assert.ok(cars.length > 0, `${SCENARIO} has no [[car]]`);
  await waitFor(`canvas#map[data-vehicles] >= ${cars.length} (the scenario's cars: ${cars.map((c) => c.id).join(', ')})`, async () => {
    const map = await element('canvas#map');
    return { done: map && Number(map.vehicles) >= cars.length, seen: map };
  });

  // A car is moving: the map counts it, the API has its speed and position.
  const start = await waitFor('a moving car (canvas#map[data-moving] > 0 and a vehicle with speed > 0 in /api/fleet)', async () => {
    const map = await element('canvas#map');
    const fleet = await pageJSON('api/fleet');
    const moving = fleet.vehicles.find((v) => v.speed_kmh > 0 && v.lat != null && v.lon != null);
    return {
      done: Number(map.moving) > 0 && moving != null,
      value: { vehicle: moving, frame: Number(map.frame) },
      seen: { map, vehicles: fleet.vehicles.map((v) => `${v.id} ${v.speed_kmh} km/h`) },
    };
  }, { timeout: 60_000 });

  // ... and really moves: a later position is elsewhere, the map has been redrawn since, and the
  // vehicle list shows its speed.
  const id = start.vehicle.id;
  const moved = await waitFor(`${id} to move at least 10 m from ${start.vehicle.lat}, ${start.vehicle.lon}, the map to redraw and the list to show its speed`, async () => {
    const fleet = await pageJSON('api/fleet');
    const v = fleet.vehicles.find((x) => x.id === id);
    const map = await element('canvas#map');
    const row = await element(`#vehicle-list tr[data-vehicle-id="${id}"] td.num`);
    const metres = v ? distanceM(start.vehicle, v) : 0;
    return {
      done: metres >= 10 && v.last_seen_ms > start.vehicle.last_seen_ms && Number(map.frame) > start.frame && row != null && /^[1-9]\d* km\/h$/.test(row.text),
      value: { metres, speedCell: row && row.text },
      seen: { metres: Math.round(metres), vehicle: v, frame: map.frame, startFrame: start.frame, speedCell: row && row.text },
    };
  }, { timeout: 30_000 });
  console.log(`${id} moved ${Math.round(moved.metres)} m; the list shows ${moved.speedCell}`);
  await screenshot('fleet.png');
});

/** Metres between two {lat, lon} (equirectangular; fine for a city). */
function distanceM(a, b) {
  const rad = Math.PI / 180;
  const x = (b.lon - a.lon) * rad * Math.cos(((a.lat + b.lat) / 2) * rad);
  const y = (b.lat - a.lat) * rad;
  return Math.hypot(x, y) * 6_371_000;
}

test('the scripted harsh brake appears, and acknowledging it reaches the alerts service', async () => {
  assertLoaded();
  assert.ok(brakingCar, `${SCENARIO} has no car with harsh_brake = true`);
  const row = `#alert-feed tr[data-alert-type=harsh_braking][data-vehicle-id="${brakingCar.id}"]`;
  const alert = await waitFor(`${row} (${brakingCar.id}'s scripted harsh brake) in the alert feed`, async () => {
    const found = await element(row);
    const feed = await page.evaluate(() =>
      Array.from(document.querySelectorAll('#alert-feed tr[data-alert-id]'), (tr) => `${tr.dataset.vehicleId} ${tr.dataset.alertType} ${tr.dataset.state}`),
    );
    return { done: found != null, value: found, seen: { feed } };
  }, { timeout: 120_000, every: 500 });
  assert.equal(alert.state, 'active', `the harsh-brake alert is active before anyone acknowledges it: ${JSON.stringify(alert)}`);
  const selector = `#alert-feed tr[data-alert-id="${alert.alertId}"]`;

  const operator = `browser-test-${process.pid}`;
  await page.fill('#operator-name', operator);
  await page.click(`${selector} button.ack`, { timeout: 10_000 });
  await waitFor(`${selector}[data-state=acknowledged]`, async () => {
    const r = await element(selector);
    return { done: r && r.state === 'acknowledged' && r.text.includes(operator), seen: r };
  }, { timeout: 15_000 });

  // The alerts service took it: the monitor's feed (from the service's reply and its
  // alert.acknowledged event) names the operator.
  harshBrake = await waitFor(`/api/fleet to show ${alert.alertId} acknowledged by ${operator}`, async () => {
    const fleet = await pageJSON('api/fleet');
    const a = fleet.alerts.find((x) => x.alert_id === alert.alertId);
    return { done: a && a.acknowledged_by === operator && a.acknowledged_ms != null, value: a, seen: a };
  }, { timeout: 15_000 });
  assert.equal(harshBrake.vehicle_id, brakingCar.id);
  assert.equal(harshBrake.alert_type, 'harsh_braking');
  await screenshot('alerts.png');
});

test("the bus view lists the services' queues and the communication graph", async () => {
  assertLoaded();
  await showTab('bus');
  await waitFor(`#queue-table rows for ${EVENT_QUEUES.join(', ')}, each with consumers >= 1`, async () => {
    const rows = await page.evaluate((names) =>
      names.map((name) => {
        const tr = document.querySelector(`#queue-table tr[data-queue="${name}"]`);
        const cell = tr && tr.querySelector('[data-col=consumers]');
        return { name, consumers: cell ? Number(cell.dataset.value) : null };
      }), EVENT_QUEUES);
    return { done: rows.every((r) => r.consumers >= 1), seen: rows };
  }, { timeout: 20_000 });

  const nodes = ['service:simulator', 'exchange:instadash.events', 'service:tracker'];
  const edge = 'svg#comm-graph g.edge[data-from="service:simulator"][data-to="exchange:instadash.events"]';
  await waitFor(`graph nodes ${nodes.join(', ')} and ${edge} with data-per-s > 0`, async () => {
    const seen = await page.evaluate(({ nodes, edge }) => ({
      nodes: nodes.filter((id) => document.querySelector(`svg#comm-graph g.node[data-node-id="${id}"]`)),
      perS: document.querySelector(edge)?.dataset.perS ?? null,
    }), { nodes, edge });
    return { done: seen.nodes.length === nodes.length && Number(seen.perS) > 0, seen };
  }, { timeout: 20_000 });
  await screenshot('bus.png', { whole: true });
});

test('the services view shows every service with a live instance', async () => {
  assertLoaded();
  await showTab('services');
  await waitFor(`a live instance of each of ${SERVICES.join(', ')} in #services`, async () => {
    const seen = await page.evaluate((names) =>
      Object.fromEntries(names.map((name) => {
        const s = document.querySelector(`#services [data-service="${name}"]`);
        return [name, s ? Array.from(s.querySelectorAll('[data-instance]'), (i) => i.dataset.health) : 'missing'];
      })), SERVICES);
    return { done: SERVICES.every((name) => Array.isArray(seen[name]) && seen[name].includes('live')), seen };
  }, { timeout: 20_000 });
  await screenshot('services.png', { whole: true });
});

test("the trace view shows the harsh-brake vehicle's latest event and the alert's journey", async () => {
  assertLoaded();
  assert.ok(harshBrake, 'no acknowledged harsh-brake alert (its test failed)');
  await showTab('trace');
  // The vehicle's latest event, asked for by hand.
  await page.fill('#trace-event-id', '');
  await page.fill('#trace-vehicle-id', harshBrake.vehicle_id);
  await page.click('#trace-show');
  const hops = await waitTrace(`the latest event of ${harshBrake.vehicle_id}`);
  console.log(`trace of ${harshBrake.vehicle_id}'s latest event: ${hops.join(', ')}`);

  // The alert's own journey, from the feed's trace button: from the car's message that caused it
  // (the root, published by the simulator) to the alert.raised it caused.
  await showTab('fleet');
  await page.click(`#alert-feed tr[data-alert-id="${harshBrake.alert_id}"] button.trace`, { timeout: 10_000 });
  const journey = await waitTrace(`event ${harshBrake.event_id} (the harsh-brake alert.raised)`, harshBrake.event_id);
  console.log(`trace of the alert: ${journey.join(', ')}`);
  assert.ok(
    journey.some((t) => t.includes('alert.raised')),
    `the alert's trace holds its alert.raised message: ${journey.join(', ')}`,
  );
  assert.ok(
    journey[0].startsWith('instadash.vehicle.'),
    `the alert's trace starts at the car's message that caused it: ${journey.join(', ')}`,
  );
  await screenshot('trace.png');
});

/** Waits for #trace-result[data-state=ok] with hop rows; their types. */
async function waitTrace(what, eventId) {
  return waitFor(`#trace-result[data-state=ok] with at least one [data-hop-type] row for ${what}`, async () => {
    const seen = await page.evaluate(() => {
      const out = document.querySelector('#trace-result');
      return {
        view: document.body.dataset.view,
        state: out.dataset.state,
        asked: document.querySelector('#trace-event-id').value || document.querySelector('#trace-vehicle-id').value,
        hops: Array.from(out.querySelectorAll('[data-hop-type]'), (h) => `${h.dataset.hopType} ${h.dataset.eventId}`),
        text: out.dataset.state === 'ok' ? '' : out.textContent.trim().slice(0, 300),
      };
    });
    const asked = eventId == null || seen.asked === eventId;
    return {
      done: seen.view === 'trace' && seen.state === 'ok' && seen.hops.length > 0 && asked,
      value: seen.hops.map((h) => h.split(' ')[0]),
      seen,
    };
  }, { timeout: 20_000 });
}

test('no errors on the page during the whole run', () => {
  assertNoErrors('at the end');
});
