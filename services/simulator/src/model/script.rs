//! Runs a scripted car's actions in order (see [`crate::scenario`] for what they mean).

use std::sync::Arc;

use instadash_roads::RoadNetwork;
use tracing::warn;

use super::car::Car;
use crate::scenario::Action;

#[derive(Debug, Clone)]
pub(crate) struct ScriptRunner {
    actions: Arc<[Action]>,
    next: usize,
    /// When the action before `next` started (instants count their `after_s` from it).
    anchor_ms: i64,
    finished: bool,
}

impl ScriptRunner {
    pub fn new(actions: Vec<Action>, now_ms: i64) -> Self {
        Self {
            finished: actions.is_empty(),
            actions: actions.into(),
            next: 0,
            anchor_ms: now_ms,
        }
    }

    /// Every action has run and the last lasting one is over.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Starts every action that is due at `now_ms`.
    pub fn update(&mut self, car: &mut Car, network: &RoadNetwork, now_ms: i64) {
        while let Some(action) = self.actions.get(self.next) {
            if action.is_lasting() {
                if !car.activity_done(now_ms) {
                    break;
                }
                self.anchor_ms = now_ms;
                start_lasting(car, network, action, now_ms);
            } else {
                let due_ms = self.anchor_ms + (action.after_s() * 1_000.0).round() as i64;
                if now_ms < due_ms {
                    break;
                }
                self.anchor_ms = due_ms;
                fire_instant(car, action, now_ms);
            }
            self.next += 1;
        }
        self.finished = self.next >= self.actions.len() && car.activity_done(now_ms);
    }
}

fn seconds_ms(seconds: f64) -> i64 {
    (seconds * 1_000.0).round() as i64
}

fn start_lasting(car: &mut Car, network: &RoadNetwork, action: &Action, now_ms: i64) {
    match action {
        Action::DriveTo { node, max_kmh } => {
            car.switch_ignition(true, now_ms);
            // Routes were checked when the scenario was loaded; an empty one is an arrival.
            let route = network
                .shortest_path(car.node(network), *node)
                .unwrap_or_default();
            let stops = vec![0; route.len()];
            car.drive(route, stops, *max_kmh);
        }
        Action::Park { seconds } => {
            car.switch_ignition(false, now_ms);
            car.stand_until(now_ms + seconds_ms(*seconds));
        }
        Action::Idle { seconds } => {
            car.switch_ignition(true, now_ms);
            car.stand_until(now_ms + seconds_ms(*seconds));
        }
        Action::Silent { seconds } => car.go_silent_until(now_ms + seconds_ms(*seconds)),
        _ => unreachable!("not a lasting action: {action:?}"),
    }
}

fn fire_instant(car: &mut Car, action: &Action, now_ms: i64) {
    if action.needs_a_drive() && !car.motion.driving() {
        warn!(
            vehicle = %car.id,
            action = action.key(),
            "the drive was over before this scripted action was due: it does not happen"
        );
        return;
    }
    match action {
        Action::IgnitionOn { .. } => car.switch_ignition(true, now_ms),
        Action::HarshBrake { .. } => car.request_harsh_brake(),
        Action::HarshAcceleration { .. } => car.request_harsh_acceleration(),
        Action::Speeding {
            seconds, over_pct, ..
        } => car.start_speeding(now_ms + seconds_ms(*seconds), *over_pct),
        Action::Fault { code, .. } => car.add_fault(code),
        Action::ClearFaults { .. } => car.clear_faults(),
        Action::Overheat { seconds, .. } => {
            // Past 110 °C some 13 s in, back under it some 12 s after the end: about `seconds`.
            car.start_overheat(now_ms + seconds_ms(*seconds));
        }
        Action::Dashcam { trigger, .. } => car.trigger_dashcam(*trigger),
        _ => unreachable!("not an instant action: {action:?}"),
    }
}
