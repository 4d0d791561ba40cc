//! Scenarios: exact cars and what they do, for tests and demos, written in TOML.
//!
//! ```toml
//! fix_interval_ms = 1000        # optional, 1000
//! slow_obd_interval_ms = 5000   # optional, 5000
//! seed = 1                      # optional, 0: only GPS details (accuracy, satellites) and clip ids
//!
//! [[car]]
//! id = "car-a"
//! start_node = 120
//! ignition = false              # optional, false: parked at the start
//! actions = [
//!   { drive_to = 140, max_kmh = 40 },
//!   { harsh_brake = true, after_s = 20 },
//!   { park_s = 0 },
//! ]
//! ```
//!
//! Actions run in order. *Lasting* actions take time: `drive_to` (until the car arrives),
//! `park_s`, `idle_s`, `silent_s`. *Instant* actions happen at once, or `after_s` seconds after the
//! action before them started (default 0), while the lasting action before them goes on: so a
//! `harsh_brake` after a `drive_to` happens during that drive. A lasting action starts when the
//! one before it is over and every instant action before it has happened. After the last action
//! the car stays as it is. `services/simulator/scenarios/README.md` describes every action.

use std::path::{Path, PathBuf};

use instadash_schemas::dashcam::ClipTrigger;
use serde::Deserialize;

/// Default time between two GPS fixes.
pub const DEFAULT_FIX_INTERVAL_MS: u32 = 1_000;
/// Default time between two full OBD readings.
pub const DEFAULT_SLOW_OBD_INTERVAL_MS: u32 = 5_000;

/// The action keys a scenario understands, for error messages.
const ACTION_KEYS: &str = "drive_to, park_s, idle_s, silent_s, ignition_on, harsh_brake, \
                           harsh_acceleration, speeding_s, fault, clear_faults, overheat_s, dashcam";

/// A parsed scenario. Node numbers are checked against a network by
/// [`crate::FleetModel::scripted`].
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: Option<String>,
    pub seed: u64,
    pub fix_interval_ms: u32,
    pub slow_obd_interval_ms: u32,
    pub cars: Vec<ScriptedCar>,
}

/// One car of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedCar {
    pub id: String,
    pub start_node: u32,
    /// On at the start (standing, engine running) or off (parked).
    pub ignition: bool,
    pub actions: Vec<Action>,
}

/// One thing a scripted car does. Durations and delays are seconds of simulated time.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Lasting: drive the fastest route to `node` and stop there (ignition on first if off).
    DriveTo { node: u32, max_kmh: Option<f64> },
    /// Lasting: ignition off (a final fix, then the ignition message), then wait.
    Park { seconds: f64 },
    /// Lasting: ignition on (if off) and stand still with the engine running.
    Idle { seconds: f64 },
    /// Lasting: stand still and send nothing at all, then transmit again.
    Silent { seconds: f64 },
    /// Instant: switch the ignition on.
    IgnitionOn { after_s: f64 },
    /// Instant, during a drive: brake at about 0.56 g for a second, as soon as the car is doing
    /// at least 25 km/h. The dashcam keeps a clip of it.
    HarshBrake { after_s: f64 },
    /// Instant, during a drive: accelerate at about 0.43 g, as soon as there is room to (at
    /// once when pulling away).
    HarshAcceleration { after_s: f64 },
    /// Instant, during a drive: drive `over_pct` % over every limit for `seconds`.
    Speeding {
        after_s: f64,
        seconds: f64,
        over_pct: f64,
    },
    /// Instant: a diagnostic trouble code is stored and the MIL lights.
    Fault { after_s: f64, code: String },
    /// Instant: the stored codes are cleared and the MIL goes off.
    ClearFaults { after_s: f64 },
    /// Instant: the coolant climbs above 110 °C and stays there for about `seconds`.
    Overheat { after_s: f64, seconds: f64 },
    /// Instant: the dashcam keeps a clip (10 s before, 10 s after).
    Dashcam { after_s: f64, trigger: ClipTrigger },
}

impl Action {
    /// Whether the action takes time (the next lasting action waits for it).
    pub fn is_lasting(&self) -> bool {
        matches!(
            self,
            Action::DriveTo { .. }
                | Action::Park { .. }
                | Action::Idle { .. }
                | Action::Silent { .. }
        )
    }

    /// The delay of an instant action after the action before it started; 0 for lasting ones.
    pub fn after_s(&self) -> f64 {
        match self {
            Action::DriveTo { .. }
            | Action::Park { .. }
            | Action::Idle { .. }
            | Action::Silent { .. } => 0.0,
            Action::IgnitionOn { after_s }
            | Action::HarshBrake { after_s }
            | Action::HarshAcceleration { after_s }
            | Action::Speeding { after_s, .. }
            | Action::Fault { after_s, .. }
            | Action::ClearFaults { after_s }
            | Action::Overheat { after_s, .. }
            | Action::Dashcam { after_s, .. } => *after_s,
        }
    }

    /// Whether the action only makes sense during a drive.
    pub fn needs_a_drive(&self) -> bool {
        matches!(
            self,
            Action::HarshBrake { .. } | Action::HarshAcceleration { .. } | Action::Speeding { .. }
        )
    }

    /// The action's key in a scenario file.
    pub fn key(&self) -> &'static str {
        match self {
            Action::DriveTo { .. } => "drive_to",
            Action::Park { .. } => "park_s",
            Action::Idle { .. } => "idle_s",
            Action::Silent { .. } => "silent_s",
            Action::IgnitionOn { .. } => "ignition_on",
            Action::HarshBrake { .. } => "harsh_brake",
            Action::HarshAcceleration { .. } => "harsh_acceleration",
            Action::Speeding { .. } => "speeding_s",
            Action::Fault { .. } => "fault",
            Action::ClearFaults { .. } => "clear_faults",
            Action::Overheat { .. } => "overheat_s",
            Action::Dashcam { .. } => "dashcam",
        }
    }
}

/// Why a scenario was refused. Messages name the car and the action (counted from 1).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the scenario is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("car '{car}', action {index}: unknown action `{key}` (actions are: {ACTION_KEYS})")]
    UnknownAction {
        car: String,
        index: usize,
        key: String,
    },
    #[error("car '{car}', action {index}: {message}")]
    BadAction {
        car: String,
        index: usize,
        message: String,
    },
    #[error("car '{car}': node {node} is not on the road network (its nodes are 0 to {last})")]
    UnknownNode { car: String, node: u32, last: u32 },
    #[error("car '{car}': there is no route from node {from} to node {to}")]
    NoRoute { car: String, from: u32, to: u32 },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<String>,
    #[serde(default)]
    seed: u64,
    fix_interval_ms: Option<u32>,
    slow_obd_interval_ms: Option<u32>,
    #[serde(default)]
    car: Vec<CarFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CarFile {
    id: String,
    start_node: u32,
    #[serde(default)]
    ignition: bool,
    #[serde(default)]
    actions: Vec<toml::Table>,
}

impl Scenario {
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text)?;
        let fix_interval_ms = file.fix_interval_ms.unwrap_or(DEFAULT_FIX_INTERVAL_MS);
        if fix_interval_ms == 0 {
            return Err(ScenarioError::Invalid(
                "fix_interval_ms must be at least 1".into(),
            ));
        }
        let slow_obd_interval_ms = file
            .slow_obd_interval_ms
            .unwrap_or(DEFAULT_SLOW_OBD_INTERVAL_MS);
        if file.car.is_empty() {
            return Err(ScenarioError::Invalid(
                "the scenario has no cars (add [[car]] tables)".into(),
            ));
        }
        let mut cars = Vec::with_capacity(file.car.len());
        for car in file.car {
            check_vehicle_id(&car.id)?;
            if cars.iter().any(|c: &ScriptedCar| c.id == car.id) {
                return Err(ScenarioError::Invalid(format!(
                    "two cars are called '{}'",
                    car.id
                )));
            }
            let actions = car
                .actions
                .iter()
                .enumerate()
                .map(|(i, table)| parse_action(&car.id, i + 1, table))
                .collect::<Result<Vec<_>, _>>()?;
            check_drives(&car.id, &actions)?;
            cars.push(ScriptedCar {
                id: car.id,
                start_node: car.start_node,
                ignition: car.ignition,
                actions,
            });
        }
        Ok(Scenario {
            name: file.name,
            seed: file.seed,
            fix_interval_ms,
            slow_obd_interval_ms,
            cars,
        })
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::from_toml(&text)
    }
}

/// The contract's rule for vehicle ids (they end up in routing keys).
fn check_vehicle_id(id: &str) -> Result<(), ScenarioError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ScenarioError::Invalid(format!(
            "car id '{id}' is not a valid vehicle id (1-64 letters, digits, '-' or '_')"
        )))
    }
}

/// Manoeuvres belong to a drive: only instant actions may stand between them and a `drive_to`.
fn check_drives(car: &str, actions: &[Action]) -> Result<(), ScenarioError> {
    let mut in_drive = false;
    for (i, action) in actions.iter().enumerate() {
        if action.is_lasting() {
            in_drive = matches!(action, Action::DriveTo { .. });
        } else if action.needs_a_drive() && !in_drive {
            return Err(ScenarioError::BadAction {
                car: car.into(),
                index: i + 1,
                message: format!(
                    "`{}` happens during a drive, so it must come after a `drive_to` (with only instant actions between)",
                    action.key()
                ),
            });
        }
    }
    Ok(())
}

/// Reads one action table: exactly one action key, plus the options that action takes.
fn parse_action(car: &str, index: usize, table: &toml::Table) -> Result<Action, ScenarioError> {
    let bad = |message: String| ScenarioError::BadAction {
        car: car.into(),
        index,
        message,
    };
    let kinds: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "after_s" | "max_kmh" | "over_pct"))
        .collect();
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] => {
            return Err(bad(format!(
                "no action in this entry (actions are: {ACTION_KEYS})"
            )));
        }
        many => {
            return Err(bad(format!(
                "one action per entry, found {}",
                many.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )));
        }
    };
    let value = &table[kind];
    let seconds = |key: &str, v: &toml::Value| -> Result<f64, ScenarioError> {
        let s = match v {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            other => {
                return Err(bad(format!(
                    "`{key}` must be a number of seconds, not {}",
                    other.type_str()
                )));
            }
        };
        if s.is_finite() && s >= 0.0 {
            Ok(s)
        } else {
            Err(bad(format!(
                "`{key}` must be zero or more seconds, not {s}"
            )))
        }
    };
    let flag = |v: &toml::Value| -> Result<(), ScenarioError> {
        match v {
            toml::Value::Boolean(true) => Ok(()),
            _ => Err(bad(format!("write `{kind} = true`"))),
        }
    };
    let after_s = match table.get("after_s") {
        Some(v) => seconds("after_s", v)?,
        None => 0.0,
    };
    let allowed: &[&str] = match kind {
        "drive_to" => &["max_kmh"],
        "speeding_s" => &["after_s", "over_pct"],
        "park_s" | "idle_s" | "silent_s" => &[],
        _ => &["after_s"],
    };
    for option in ["after_s", "max_kmh", "over_pct"] {
        if table.contains_key(option) && !allowed.contains(&option) {
            return Err(bad(format!("`{kind}` does not take `{option}`")));
        }
    }
    let action = match kind {
        "drive_to" => {
            let node = match value {
                toml::Value::Integer(n) if (0..=i64::from(u32::MAX)).contains(n) => *n as u32,
                _ => return Err(bad("`drive_to` must be a node number".into())),
            };
            let max_kmh = match table.get("max_kmh") {
                None => None,
                Some(v) => {
                    let kmh = seconds("max_kmh", v)?;
                    if kmh < 5.0 {
                        return Err(bad(format!("`max_kmh` must be at least 5, not {kmh}")));
                    }
                    Some(kmh)
                }
            };
            Action::DriveTo { node, max_kmh }
        }
        "park_s" => Action::Park {
            seconds: seconds(kind, value)?,
        },
        "idle_s" => Action::Idle {
            seconds: seconds(kind, value)?,
        },
        "silent_s" => Action::Silent {
            seconds: seconds(kind, value)?,
        },
        "ignition_on" => {
            flag(value)?;
            Action::IgnitionOn { after_s }
        }
        "harsh_brake" => {
            flag(value)?;
            Action::HarshBrake { after_s }
        }
        "harsh_acceleration" => {
            flag(value)?;
            Action::HarshAcceleration { after_s }
        }
        "speeding_s" => {
            let over_pct = match table.get("over_pct") {
                Some(v) => seconds("over_pct", v)?,
                None => 20.0,
            };
            if !(1.0..=100.0).contains(&over_pct) {
                return Err(bad(format!(
                    "`over_pct` must be between 1 and 100, not {over_pct}"
                )));
            }
            Action::Speeding {
                after_s,
                seconds: seconds(kind, value)?,
                over_pct,
            }
        }
        "fault" => {
            let code = value.as_str().unwrap_or_default();
            if !is_trouble_code(code) {
                return Err(bad(format!(
                    "`fault` must be a trouble code like \"P0301\" (a letter P, C, B or U, a digit 0-3, three hex digits), not {value}"
                )));
            }
            Action::Fault {
                after_s,
                code: code.into(),
            }
        }
        "clear_faults" => {
            flag(value)?;
            Action::ClearFaults { after_s }
        }
        "overheat_s" => Action::Overheat {
            after_s,
            seconds: seconds(kind, value)?,
        },
        "dashcam" => {
            let trigger = value
                .as_str()
                .and_then(|t| serde_json::from_value::<ClipTrigger>(serde_json::Value::String(t.into())).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "`dashcam` must be a trigger: \"panic_button\", \"impact\", \"harsh_brake\", \"harsh_acceleration\", \"harsh_cornering\", \"manual\" or \"alert\", not {value}"
                    ))
                })?;
            Action::Dashcam { after_s, trigger }
        }
        other => {
            return Err(ScenarioError::UnknownAction {
                car: car.into(),
                index,
                key: other.into(),
            });
        }
    };
    Ok(action)
}

/// `^[PCBU][0-3][0-9A-F]{3}$`, as the trouble-codes schema says.
pub(crate) fn is_trouble_code(code: &str) -> bool {
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

    fn error(text: &str) -> String {
        match Scenario::from_toml(text) {
            Ok(s) => panic!("accepted: {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_full_scenario_parses() {
        let s = Scenario::from_toml(
            r#"
            name = "demo"
            seed = 7
            fix_interval_ms = 500
            [[car]]
            id = "car-a"
            start_node = 3
            ignition = true
            actions = [
              { drive_to = 40, max_kmh = 40 },
              { harsh_brake = true, after_s = 12.5 },
              { speeding_s = 20, over_pct = 15, after_s = 1 },
              { harsh_acceleration = true },
              { fault = "P0301" },
              { dashcam = "panic_button", after_s = 3 },
              { park_s = 60 },
              { overheat_s = 30 },
              { clear_faults = true },
              { ignition_on = true, after_s = 2 },
              { idle_s = 10 },
              { silent_s = 40 },
            ]
            [[car]]
            id = "car-b"
            start_node = 4
            "#,
        )
        .unwrap();
        assert_eq!(s.name.as_deref(), Some("demo"));
        assert_eq!(
            (s.seed, s.fix_interval_ms, s.slow_obd_interval_ms),
            (7, 500, 5_000)
        );
        let a = &s.cars[0];
        assert!(a.ignition);
        assert_eq!(a.actions.len(), 12);
        assert_eq!(
            a.actions[0],
            Action::DriveTo {
                node: 40,
                max_kmh: Some(40.0)
            }
        );
        assert_eq!(a.actions[1], Action::HarshBrake { after_s: 12.5 });
        assert_eq!(
            a.actions[2],
            Action::Speeding {
                after_s: 1.0,
                seconds: 20.0,
                over_pct: 15.0
            }
        );
        assert_eq!(
            a.actions[5],
            Action::Dashcam {
                after_s: 3.0,
                trigger: ClipTrigger::PanicButton
            }
        );
        assert_eq!(a.actions[11], Action::Silent { seconds: 40.0 });
        assert!(!s.cars[1].ignition && s.cars[1].actions.is_empty());
    }

    #[test]
    fn mistakes_are_explained() {
        let car = |actions: &str| {
            format!("[[car]]\nid = \"car-a\"\nstart_node = 1\nactions = [{actions}]\n")
        };
        let e = error(&car("{ fly_to = 3 }"));
        assert!(
            e.contains("car 'car-a', action 1: unknown action `fly_to`"),
            "{e}"
        );
        assert!(e.contains("drive_to"), "{e}");
        let e = error(&car("{ drive_to = 3 }, { drive_to = 4, park_s = 3 }"));
        assert!(e.contains("action 2: one action per entry"), "{e}");
        let e = error(&car("{ drive_to = \"home\" }"));
        assert!(e.contains("must be a node number"), "{e}");
        let e = error(&car("{ idle_s = -3 }"));
        assert!(e.contains("zero or more seconds"), "{e}");
        let e = error(&car("{ fault = \"X123\" }"));
        assert!(e.contains("trouble code"), "{e}");
        let e = error(&car("{ dashcam = \"selfie\" }"));
        assert!(e.contains("panic_button"), "{e}");
        let e = error(&car("{ idle_s = 5 }, { harsh_brake = true }"));
        assert!(
            e.contains("action 2: `harsh_brake` happens during a drive"),
            "{e}"
        );
        let e = error(&car("{ park_s = 5, after_s = 3 }"));
        assert!(e.contains("does not take `after_s`"), "{e}");
        let e = error(&car("{ harsh_brake = false }"));
        assert!(e.contains("harsh_brake = true"), "{e}");
        let e = error(&car("{ after_s = 3 }"));
        assert!(e.contains("no action"), "{e}");
        let e = error("[[car]]\nid = \"car a\"\nstart_node = 1\n");
        assert!(e.contains("not a valid vehicle id"), "{e}");
        let e = error("[[car]]\nid = \"a\"\nstart_node = 1\n[[car]]\nid = \"a\"\nstart_node = 2\n");
        assert!(e.contains("two cars are called 'a'"), "{e}");
        let e = error("[[car]]\nid = \"a\"\nstart_nod = 1\n");
        assert!(e.contains("start_nod"), "{e}");
        assert!(
            error("fix_interval_ms = 0\n[[car]]\nid = \"a\"\nstart_node = 1\n")
                .contains("at least 1")
        );
        assert!(error("name = \"empty\"").contains("no cars"));
        assert!(error("[[car]\n").contains("not valid"));
        let e = Scenario::load("/no/such/scenario.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/scenario.toml"), "{e}");
    }

    #[test]
    fn trouble_codes() {
        for ok in ["P0301", "P0171", "U3FFF", "C1234", "B0A0F"] {
            assert!(is_trouble_code(ok), "{ok}");
        }
        for bad in ["", "P030", "P4301", "X0301", "P03011", "p0301", "P03g1"] {
            assert!(!is_trouble_code(bad), "{bad}");
        }
    }
}
