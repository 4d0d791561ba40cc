//! Geofence enter and exit: a crossing between two fixes. Where a vehicle was before its first
//! fix is unknown, so the first fix (also the first after a restart) only says where it is.
//! Leaving needs the vehicle `geofence_exit_margin_m` outside: GPS jitter at the boundary is no
//! crossing. Entering ends the active exit alert of that fence (and leaving the enter alert): at
//! most one of the two is active per vehicle and fence, the latest crossing.

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::raised::v1::AlertDetails;

use super::rules::{Change, Draft, Fix, Rules};
use super::text;
use crate::geofence::Geofence;

/// Which fences a vehicle is in.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Membership {
    /// By index into the configured fences; `None` before the first fix.
    inside: Option<Vec<bool>>,
}

impl Membership {
    pub fn on_fix(
        &mut self,
        fix: &Fix,
        fences: &[Geofence],
        rules: &Rules,
        changes: &mut Vec<Change>,
    ) {
        if fences.is_empty() {
            return;
        }
        let Some(inside) = &mut self.inside else {
            self.inside = Some(
                fences
                    .iter()
                    .map(|f| f.distance_outside_m(fix.lat, fix.lon) == 0.0)
                    .collect(),
            );
            return;
        };
        for (fence, was_inside) in fences.iter().zip(inside.iter_mut()) {
            let outside_m = fence.distance_outside_m(fix.lat, fix.lon);
            let is_inside = if *was_inside {
                outside_m <= rules.geofence_exit_margin_m
            } else {
                outside_m == 0.0
            };
            if is_inside == *was_inside {
                continue;
            }
            *was_inside = is_inside;
            let (ended, crossing) = if is_inside {
                (AlertType::GeofenceExit, AlertType::GeofenceEnter)
            } else {
                (AlertType::GeofenceEnter, AlertType::GeofenceExit)
            };
            changes.push(Change::Clear {
                alert_type: ended,
                geofence_id: Some(fence.id.clone()),
                at_ms: fix.time_ms,
            });
            changes.push(Change::raise(Draft {
                alert_type: crossing,
                geofence_id: Some(fence.id.clone()),
                at_ms: fix.time_ms,
                message: text::geofence(is_inside, &fence.name),
                details: AlertDetails {
                    geofence_id: Some(fence.id.clone()),
                    speed_kmh: Some(fix.speed_kmh),
                    lat: Some(fix.lat),
                    lon: Some(fix.lon),
                    ..AlertDetails::default()
                },
            }));
        }
    }
}
