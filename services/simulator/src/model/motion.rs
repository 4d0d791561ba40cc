//! Driving along a route: where the car is on the network and how fast it goes.
//!
//! The driver keeps to a target speed on each edge, looks ahead for what makes them slow down
//! (a turn, a slower road, a stop at a junction, the destination) and brakes along a curve they
//! can follow comfortably, and accelerates at their own comfortable rate. Speeds change once per
//! tick (at most one second), so the speed curve a fix sees is the one the car drove.

use instadash_roads::{EdgeId, NodeId, RoadNetwork};

/// Deceleration a driver plans with when slowing for something ahead.
pub(crate) const PLANNED_BRAKE_MS2: f64 = 2.5;
/// The firmest ordinary braking (0.31 g): well under the harsh-braking threshold of 0.4 g.
pub(crate) const MAX_BRAKE_MS2: f64 = 3.0;
/// A harsh brake (0.56 g): 20 km/h lost in one second.
pub(crate) const HARSH_BRAKE_MS2: f64 = 5.5;
/// A harsh acceleration (0.43 g).
pub(crate) const HARSH_ACCEL_MS2: f64 = 4.2;
/// A harsh brake only happens at speed, so that it is a real one (and visible in the fixes).
pub(crate) const HARSH_BRAKE_MIN_MS: f64 = 7.0;
/// Close enough to a stop line, and slow enough to stop within ordinary braking: the car is
/// there.
const SNAP_M: f64 = 1.0;

/// What the driver does this tick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Controls {
    /// Multiplies every speed limit: about 1 normally, 1.1-1.25 when speeding.
    pub speed_factor: f64,
    /// An absolute cap (a scripted `max_kmh`), m/s.
    pub max_ms: f64,
    /// The driver's comfortable acceleration from standstill.
    pub accel_ms2: f64,
    pub harsh_brake: bool,
    pub harsh_accel: bool,
}

/// What happened during a tick.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tick {
    pub distance_m: f64,
    pub accel_ms2: f64,
    pub arrived: bool,
    pub entered_edge: bool,
    pub stopped_at_junction: bool,
    pub harsh_braked: bool,
    pub harsh_accelerated: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Motion {
    /// The edge the car is on (standing at a node: an edge that ends or starts there).
    pub edge: EdgeId,
    pub offset_m: f64,
    pub speed_ms: f64,
    route: Vec<EdgeId>,
    /// Seconds to wait at the end of each route edge (a red light, a stop sign); 0 for none.
    stops: Vec<u16>,
    index: usize,
    dwell_s: f64,
    driving: bool,
    /// The driver's share of the speed limit on the current edge.
    pub cruise: f64,
}

impl Motion {
    /// Standing at `node` (which must exist and have an edge).
    pub fn at_node(network: &RoadNetwork, node: NodeId) -> Self {
        let (edge, offset_m) = match network.out_edges(node).first() {
            Some(&e) => (e, 0.0),
            None => {
                let e = network
                    .edges()
                    .iter()
                    .find(|e| e.to == node)
                    .map_or(0, |e| e.id);
                (e, network.edge(e).length_m)
            }
        };
        Self {
            edge,
            offset_m,
            speed_ms: 0.0,
            route: Vec::new(),
            stops: Vec::new(),
            index: 0,
            dwell_s: 0.0,
            driving: false,
            cruise: 1.0,
        }
    }

    pub fn driving(&self) -> bool {
        self.driving
    }

    /// The node the car stands at (meaningful when not driving).
    pub fn node(&self, network: &RoadNetwork) -> NodeId {
        let edge = network.edge(self.edge);
        if self.offset_m >= edge.length_m / 2.0 {
            edge.to
        } else {
            edge.from
        }
    }

    pub fn position(&self, network: &RoadNetwork) -> (f64, f64) {
        network.point_on_edge(self.edge, self.offset_m)
    }

    pub fn heading_deg(&self, network: &RoadNetwork) -> f64 {
        network.edge_bearing_deg(self.edge)
    }

    /// Starts driving `route` (which starts where the car stands), waiting `stops[i]` seconds at
    /// the end of `route[i]`. An empty route is an immediate arrival.
    pub fn start(&mut self, route: Vec<EdgeId>, stops: Vec<u16>) {
        debug_assert_eq!(route.len(), stops.len());
        self.driving = !route.is_empty();
        if let Some(&first) = route.first() {
            self.edge = first;
            self.offset_m = 0.0;
        }
        self.route = route;
        self.stops = stops;
        self.index = 0;
        self.dwell_s = 0.0;
        self.speed_ms = 0.0;
    }

    /// Stops the drive where the car is (it stays on its edge).
    pub fn abandon(&mut self) {
        self.driving = false;
        self.speed_ms = 0.0;
        self.route.clear();
        self.stops.clear();
    }

    /// Whether the car waits at a junction.
    pub fn dwelling(&self) -> bool {
        self.dwell_s > 0.0
    }

    /// The fastest the car could go now on its current edge without braking for what is ahead.
    fn target_ms(&self, network: &RoadNetwork, edge: EdgeId, c: &Controls, cruise: f64) -> f64 {
        (network.edge(edge).speed_limit_kmh / 3.6 * c.speed_factor * cruise).min(c.max_ms)
    }

    /// The speed to be at when crossing the junction at the end of `route[k]`.
    fn junction_ms(&self, network: &RoadNetwork, k: usize, c: &Controls) -> f64 {
        if k + 1 >= self.route.len() || self.stops[k] > 0 {
            return 0.0;
        }
        let (here, next) = (self.route[k], self.route[k + 1]);
        let turn = (network.edge_bearing_deg(next) - network.edge_bearing_deg(here) + 540.0)
            .rem_euclid(360.0)
            - 180.0;
        let turn_ms = match turn.abs() {
            a if a < 30.0 => f64::INFINITY,
            a if a < 60.0 => 35.0 / 3.6,
            a if a < 135.0 => 22.0 / 3.6,
            _ => 12.0 / 3.6,
        };
        turn_ms.min(self.target_ms(network, next, c, self.cruise))
    }

    /// The speed wanted at the end of this tick: the edge's target, or less where something
    /// ahead needs braking for.
    fn wanted_ms(&self, network: &RoadNetwork, c: &Controls, dt: f64) -> f64 {
        let v = self.speed_ms;
        let mut wanted = self.target_ms(network, self.edge, c, self.cruise);
        let horizon_m = v * v / (2.0 * PLANNED_BRAKE_MS2) + v * dt + 5.0;
        let mut ahead_m = network.edge(self.edge).length_m - self.offset_m;
        let mut k = self.index;
        loop {
            let v_end = self.junction_ms(network, k, c);
            wanted = wanted.min(braking_curve(v, v_end, ahead_m, dt));
            if v_end == 0.0 || ahead_m > horizon_m || k + 1 >= self.route.len() {
                return wanted;
            }
            k += 1;
            ahead_m += network.edge(self.route[k]).length_m;
        }
    }

    /// Whether the end of the current edge is a place to stop at.
    fn stop_at_end(&self) -> bool {
        self.index + 1 >= self.route.len() || self.stops[self.index] > 0
    }

    /// Moves the car by one tick of `dt` seconds (at most 1). `cruise` is drawn for each new edge
    /// the car enters (the caller passes a closure so the draw happens only then).
    pub fn tick(
        &mut self,
        network: &RoadNetwork,
        dt: f64,
        c: &Controls,
        mut next_cruise: impl FnMut() -> f64,
    ) -> Tick {
        let mut tick = Tick::default();
        if !self.driving {
            self.speed_ms = 0.0;
            return tick;
        }
        if self.dwell_s > 0.0 {
            self.dwell_s -= dt;
            return tick;
        }
        let v = self.speed_ms;
        let wanted = self.wanted_ms(network, c, dt);
        let v_new = if c.harsh_brake && v > 0.0 {
            tick.harsh_braked = true;
            (v - HARSH_BRAKE_MS2 * dt).max(0.0)
        } else if wanted >= v {
            // Flooring it only where there is room for it to be harsh; otherwise as usual.
            tick.harsh_accelerated = c.harsh_accel && wanted - v >= HARSH_ACCEL_MS2 * dt * 0.9;
            let accel = if tick.harsh_accelerated {
                HARSH_ACCEL_MS2
            } else {
                c.accel_ms2 * (1.0 - v / 45.0).max(0.35)
            };
            wanted.min(v + accel * dt)
        } else {
            wanted.max(v - MAX_BRAKE_MS2 * dt)
        };
        let distance = (v + v_new) / 2.0 * dt;
        self.speed_ms = v_new;
        self.offset_m += distance;
        tick.distance_m = distance;
        tick.accel_ms2 = (v_new - v) / dt;

        if self.stop_at_end()
            && network.edge(self.edge).length_m - self.offset_m < SNAP_M
            && v <= MAX_BRAKE_MS2 * dt
        {
            let length = network.edge(self.edge).length_m;
            tick.distance_m += length - self.offset_m;
            self.offset_m = length;
        }
        loop {
            let length = network.edge(self.edge).length_m;
            if self.offset_m < length {
                break;
            }
            if self.stop_at_end() {
                // Never past a stop line: what was left of the tick's distance is not driven.
                tick.distance_m -= self.offset_m - length;
                self.offset_m = length;
                self.speed_ms = 0.0;
            }
            if self.index + 1 >= self.route.len() {
                self.speed_ms = 0.0;
                self.driving = false;
                tick.arrived = true;
                break;
            }
            if self.stops[self.index] > 0 {
                self.dwell_s = f64::from(self.stops[self.index]);
                self.stops[self.index] = 0;
                tick.stopped_at_junction = true;
                break;
            }
            self.offset_m -= length;
            self.index += 1;
            self.edge = self.route[self.index];
            self.cruise = next_cruise();
            tick.entered_edge = true;
        }
        tick.accel_ms2 = (self.speed_ms - v) / dt;
        tick
    }
}

/// The highest speed at the end of a tick from which the car can still be at `v_end` (or less)
/// `ahead_m` metres on, braking at [`PLANNED_BRAKE_MS2`]. Solves
/// `v'^2 <= v_end^2 + 2 b (ahead - (v + v') dt / 2)` for `v'`.
fn braking_curve(v: f64, v_end: f64, ahead_m: f64, dt: f64) -> f64 {
    let b = PLANNED_BRAKE_MS2;
    let c = v_end * v_end + 2.0 * b * ahead_m - b * v * dt;
    let curve = if c <= 0.0 {
        0.0
    } else {
        (-b * dt + (b * b * dt * dt + 4.0 * c).sqrt()) / 2.0
    };
    // Already slow enough for the junction: keep its speed through it.
    if v <= v_end { curve.max(v_end) } else { curve }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_braking_curve_stops_at_the_line() {
        let (mut v, mut ahead) = (14.0, 60.0);
        for _ in 0..30 {
            let next = braking_curve(v, 0.0, ahead, 1.0).min(v);
            assert!(v - next <= PLANNED_BRAKE_MS2 + 0.5, "{v} -> {next}");
            ahead -= (v + next) / 2.0;
            v = next;
        }
        assert!(ahead > -0.5 && v < 0.5, "{ahead} m left at {v} m/s");
    }
}
