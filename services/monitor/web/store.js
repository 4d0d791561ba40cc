// The page's state (what the server told us) and a tiny event bus between the views.
//
// Events emitted:
//   'vehicles'  (array of changed VehicleDot, or null after a full reload of the fleet)
//   'alerts'    (array of changed AlertEntry)
//   'overview'  (Overview)
//   'roads'     (Roads)
//   'tab'       (tab name, after it became visible)
//   'select'    (vehicle id or null)
//   'live'      (boolean)

export const store = {
  /** Roads from /api/roads, or null. */
  roads: null,
  /** id -> VehicleDot. */
  vehicles: new Map(),
  /** Set when a vehicle id appears or disappears (the sorted list must be rebuilt). */
  idsChanged: true,
  /** alert_id -> AlertEntry. */
  alerts: new Map(),
  /** The last Overview, or null. */
  overview: null,
  /** Server clock minus local clock, ms (for "12 s ago"). */
  skew: 0,
  activeTab: 'fleet',
  selectedId: null,
  /** The route replay: { vehicleId, points, t0, t1, t, playing, speed } or null. */
  replay: null,
  live: false,
};

const listeners = new Map();

export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(fn);
}

export function emit(event, data) {
  for (const fn of listeners.get(event) || []) {
    try {
      fn(data);
    } catch (err) {
      console.error(`listener for '${event}' failed`, err);
    }
  }
}

/** The server's current time, as far as we know it. */
export function now() {
  return Date.now() + store.skew;
}

/** Follows the server's clock from the time_ms of what it sends (ignoring small jitter). */
export function noteServerTime(ms) {
  if (!ms) return;
  const skew = ms - Date.now();
  if (Math.abs(skew - store.skew) > 1500) store.skew = skew;
}

/** Merges vehicles by id (a batch carries only the ones that changed). */
export function mergeVehicles(list) {
  const map = store.vehicles;
  for (const v of list) {
    if (!v || v.id == null) continue;
    if (!map.has(v.id)) store.idsChanged = true;
    map.set(v.id, v);
  }
  emit('vehicles', list);
}

/** Replaces every vehicle (initial load, or after a reconnect). */
export function replaceVehicles(list) {
  store.vehicles = new Map();
  for (const v of list) if (v && v.id != null) store.vehicles.set(v.id, v);
  store.idsChanged = true;
  emit('vehicles', null);
}

/** Merges alerts by alert_id. */
export function mergeAlerts(list) {
  for (const a of list) if (a && a.alert_id != null) store.alerts.set(a.alert_id, a);
  emit('alerts', list);
}
