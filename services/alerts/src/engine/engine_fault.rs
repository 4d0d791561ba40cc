//! Engine fault: stored trouble codes or the malfunction indicator lamp (MIL). Two kinds of
//! message speak of it, a trouble-code list (sent when the codes change) and an OBD reading
//! (PID 0x01: the MIL and the number of stored codes, when polled); the newer one decides, so a
//! late message never overrules what a newer one said. The alert clears when the newest word is
//! "no codes, lamp off".

use instadash_schemas::alert::AlertType;
use instadash_schemas::alert::raised::v1::AlertDetails;

use super::rules::{Change, Draft};
use super::text;

/// A vehicle's engine-fault rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EngineFault {
    /// The newest word on whether there is a fault, and when it was said.
    fault: Option<(i64, bool)>,
    /// The newest trouble-code list (only codes of the OBD-II form, for the alert's text).
    codes: Vec<String>,
    /// How many codes are stored, by the newest message that said.
    code_count: Option<u32>,
    mil_on: bool,
}

impl EngineFault {
    /// A trouble-code list at `t` (already known to be the newest list of the vehicle).
    pub fn on_trouble_codes(
        &mut self,
        t: i64,
        mil_on: bool,
        codes: &[String],
        active: bool,
    ) -> Option<Change> {
        self.codes = codes.iter().filter(|c| is_dtc(c)).cloned().collect();
        if self.fault.is_some_and(|(said, _)| said > t) {
            return None;
        }
        self.mil_on = mil_on;
        self.code_count = Some(u32::try_from(codes.len()).unwrap_or(u32::MAX));
        self.decide(t, mil_on || !codes.is_empty(), active)
    }

    /// An OBD reading at `t` (already known to be the newest reading of the vehicle). Readings
    /// without PID 0x01 say nothing about faults.
    pub fn on_obd(
        &mut self,
        t: i64,
        mil_on: Option<bool>,
        dtc_count: Option<i32>,
        active: bool,
    ) -> Option<Change> {
        if (mil_on.is_none() && dtc_count.is_none()) || self.fault.is_some_and(|(said, _)| said > t)
        {
            return None;
        }
        let count = dtc_count.map(|n| u32::try_from(n).unwrap_or(0));
        self.mil_on = mil_on.unwrap_or(false);
        self.code_count = count;
        self.decide(t, self.mil_on || count.is_some_and(|n| n > 0), active)
    }

    fn decide(&mut self, t: i64, fault: bool, active: bool) -> Option<Change> {
        self.fault = Some((t, fault));
        match (fault, active) {
            (true, false) => Some(Change::raise(Draft {
                alert_type: AlertType::EngineFault,
                geofence_id: None,
                at_ms: t,
                message: text::engine_fault(&self.codes, self.code_count, self.mil_on),
                details: AlertDetails {
                    trouble_codes: (!self.codes.is_empty()).then(|| self.codes.clone()),
                    ..AlertDetails::default()
                },
            })),
            (false, true) => Some(Change::clear(AlertType::EngineFault, t)),
            _ => None,
        }
    }
}

/// An OBD-II diagnostic trouble code as the contract spells it: `^[PCBU][0-3][0-9A-F]{3}$`.
fn is_dtc(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5
        && matches!(b[0], b'P' | b'C' | b'B' | b'U')
        && (b'0'..=b'3').contains(&b[1])
        && b[2..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trouble_codes_are_checked_like_the_contract() {
        for good in ["P0301", "C3FFF", "U0100", "B1A2F"] {
            assert!(is_dtc(good), "{good}");
        }
        for bad in ["P4301", "p0301", "P030", "P03011", "X0301", "P0G01", ""] {
            assert!(!is_dtc(bad), "{bad}");
        }
    }
}
