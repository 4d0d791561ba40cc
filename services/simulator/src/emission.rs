//! What an on-board unit sends: one of the contract's vehicle or dashcam messages.

use instadash_schemas::dashcam::clip_captured::v1::ClipCaptured;
use instadash_schemas::vehicle::ignition::v1::Ignition;
use instadash_schemas::vehicle::obd_reading::v1::ObdReading;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_schemas::vehicle::trouble_codes::v1::TroubleCodes;

/// One message from one car, stamped with simulated time.
#[derive(Debug, Clone, PartialEq)]
pub enum Emission {
    Position(Position),
    Obd(ObdReading),
    TroubleCodes(TroubleCodes),
    Ignition(Ignition),
    Clip(ClipCaptured),
}

impl Emission {
    pub fn vehicle_id(&self) -> &str {
        match self {
            Emission::Position(p) => &p.vehicle_id,
            Emission::Obd(o) => &o.vehicle_id,
            Emission::TroubleCodes(t) => &t.vehicle_id,
            Emission::Ignition(i) => &i.vehicle_id,
            Emission::Clip(c) => &c.vehicle_id,
        }
    }

    /// When it happened (for a clip, the trigger time), ms since the Unix epoch.
    pub fn time_ms(&self) -> i64 {
        match self {
            Emission::Position(p) => p.time_ms,
            Emission::Obd(o) => o.time_ms,
            Emission::TroubleCodes(t) => t.time_ms,
            Emission::Ignition(i) => i.time_ms,
            Emission::Clip(c) => c.trigger_time_ms,
        }
    }

    /// A short name of the kind of message, for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Emission::Position(_) => "position",
            Emission::Obd(_) => "obd-reading",
            Emission::TroubleCodes(_) => "trouble-codes",
            Emission::Ignition(_) => "ignition",
            Emission::Clip(_) => "clip-captured",
        }
    }

    pub fn as_position(&self) -> Option<&Position> {
        match self {
            Emission::Position(p) => Some(p),
            _ => None,
        }
    }

    pub fn as_obd(&self) -> Option<&ObdReading> {
        match self {
            Emission::Obd(o) => Some(o),
            _ => None,
        }
    }
}
