//! What the alert rules are judged by: thresholds (the design brief's values by default) and
//! geofences, loadable from a TOML file and checked before the engine uses them.
//!
//! ```toml
//! [thresholds]
//! overspeed_tolerance_pct = 5.0    # every field is optional; missing ones keep their default
//! harsh_braking_g = 0.4
//!
//! [[geofences.circles]]
//! id = "depot"
//! name = "Depot"
//! lat = 48.1372
//! lon = 11.5756
//! radius_m = 150.0
//!
//! [[geofences.polygons]]
//! id = "old-town"
//! name = "Old town"
//! points = [
//!   { lat = 48.130, lon = 11.560 },
//!   { lat = 48.130, lon = 11.580 },
//!   { lat = 48.140, lon = 11.580 },
//! ]
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Everything the engine is configured with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    pub thresholds: Thresholds,
    pub geofences: Geofences,
}

/// The rules' numbers, in the units people use for them. Defaults are the design brief's
/// (§5 "Fleet domain facts") where it gives one, otherwise the reasoning is on the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Overspeed: how far over the road's limit counts as speeding, percent (brief: 5 %).
    pub overspeed_tolerance_pct: f64,
    /// Overspeed: how long speeding must last before it is an alert, seconds (brief: 10 s).
    pub overspeed_min_duration_s: f64,
    /// Overspeed: how long the car must be back at or under the limit itself before the alert
    /// clears, seconds. Together with clearing at the limit rather than at the 5 % tolerance this
    /// keeps a car hovering around the threshold from raising and clearing every few seconds.
    pub overspeed_clear_after_s: f64,
    /// Overspeed: fixes further apart than this do not prove the speeding went on in between, so
    /// the count starts again, seconds. Allows a few dropped 1 Hz fixes.
    pub overspeed_max_gap_s: f64,
    /// A fix further than this from every road has no known limit, metres: GPS error plus the
    /// width of a wide road.
    pub road_max_distance_m: f64,
    /// Harsh braking: deceleration between consecutive fixes, g (brief: about 0.4 g, i.e. about
    /// 15 km/h lost in one second).
    pub harsh_braking_g: f64,
    /// Harsh acceleration, g (brief: about 0.3 g).
    pub harsh_acceleration_g: f64,
    /// Harsh driving is judged between two fixes at most this far apart, seconds: over a longer
    /// gap the speed change is spread over time nobody saw.
    pub harsh_max_gap_s: f64,
    /// ... and at least this far apart, seconds: over a very short interval the GPS speed's own
    /// noise would look like a harsh manoeuvre.
    pub harsh_min_gap_s: f64,
    /// Idling: below this speed the car is standing, km/h (above what a parked GPS reports).
    pub idle_speed_kmh: f64,
    /// Idling: the engine running with the car standing for more than this, seconds (brief: 5 min).
    pub idle_min_duration_s: f64,
    /// Idling: fixes further apart than this do not prove the car stood running in between,
    /// seconds.
    pub idle_max_gap_s: f64,
    /// Coolant over temperature above this, °C (brief: 110 °C).
    pub coolant_max_c: f64,
    /// ... and cleared once below this, °C: a margin so a reading hovering at the limit does not
    /// raise and clear over and over.
    pub coolant_clear_c: f64,
    /// A vehicle inside a geofence counts as having left only once it is this far outside it,
    /// metres: GPS jitter at the boundary would otherwise be a stream of enter/exit alerts.
    pub geofence_exit_margin_m: f64,
    /// Alerts with no end of their own (harsh braking, harsh acceleration, geofence enter and
    /// exit) are cleared as expired this long after they were raised, seconds.
    pub expire_after_s: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            overspeed_tolerance_pct: 5.0,
            overspeed_min_duration_s: 10.0,
            overspeed_clear_after_s: 3.0,
            overspeed_max_gap_s: 5.0,
            road_max_distance_m: 30.0,
            harsh_braking_g: 0.4,
            harsh_acceleration_g: 0.3,
            harsh_max_gap_s: 2.0,
            harsh_min_gap_s: 0.5,
            idle_speed_kmh: 2.0,
            idle_min_duration_s: 300.0,
            idle_max_gap_s: 60.0,
            coolant_max_c: 110.0,
            coolant_clear_c: 105.0,
            geofence_exit_margin_m: 10.0,
            expire_after_s: 600.0,
        }
    }
}

/// The areas whose crossing is an alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Geofences {
    pub circles: Vec<CircleFence>,
    pub polygons: Vec<PolygonFence>,
}

/// A geofence within `radius_m` of a centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircleFence {
    pub id: String,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
}

/// A geofence bounded by a polygon (closed implicitly: the last point joins the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolygonFence {
    pub id: String,
    pub name: String,
    pub points: Vec<LatLon>,
}

/// A point, WGS 84 degrees. Named fields rather than a pair, so latitude and longitude cannot be
/// swapped by accident (GeoJSON writes them the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// The longest geofence id: it becomes part of alert ids, which the contract limits to 128
/// characters (64 for the vehicle id, the type, the time and separators leave room for 28).
pub const MAX_GEOFENCE_ID_LEN: usize = 28;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the alerts configuration {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the alerts configuration {path} is not valid TOML of the expected shape: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("alerts configuration: `{field}` {reason}")]
    Invalid { field: String, reason: String },
}

impl AlertsConfig {
    /// Reads and checks a TOML file.
    pub fn load(path: &Path) -> Result<AlertsConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses and checks TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<AlertsConfig, ConfigError> {
        let config: AlertsConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: origin.to_owned(),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every number and geofence, so the engine never meets a NaN, a negative duration
    /// or a fence it cannot judge.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.thresholds.validate()?;
        let mut seen = std::collections::HashSet::new();
        let ids = self
            .geofences
            .circles
            .iter()
            .map(|c| (&c.id, &c.name))
            .chain(self.geofences.polygons.iter().map(|p| (&p.id, &p.name)));
        for (id, name) in ids {
            let field = || format!("geofences[{id}]");
            if !is_valid_geofence_id(id) {
                return Err(invalid(
                    field(),
                    format!(
                        "id must be 1 to {MAX_GEOFENCE_ID_LEN} letters, digits, `-` or `_` (it is part of alert ids)"
                    ),
                ));
            }
            if name.trim().is_empty() {
                return Err(invalid(field(), "needs a name".into()));
            }
            if !seen.insert(id.as_str()) {
                return Err(invalid(
                    field(),
                    "is defined twice (ids are unique across circles and polygons)".into(),
                ));
            }
        }
        for circle in &self.geofences.circles {
            crate::geofence::Geofence::circle(circle)
                .map_err(|reason| invalid(format!("geofences.circles[{}]", circle.id), reason))?;
        }
        for polygon in &self.geofences.polygons {
            crate::geofence::Geofence::polygon(polygon)
                .map_err(|reason| invalid(format!("geofences.polygons[{}]", polygon.id), reason))?;
        }
        Ok(())
    }
}

impl Thresholds {
    fn validate(&self) -> Result<(), ConfigError> {
        let t = self;
        let positive: [(&str, f64); 11] = [
            ("overspeed_min_duration_s", t.overspeed_min_duration_s),
            ("overspeed_max_gap_s", t.overspeed_max_gap_s),
            ("road_max_distance_m", t.road_max_distance_m),
            ("harsh_braking_g", t.harsh_braking_g),
            ("harsh_acceleration_g", t.harsh_acceleration_g),
            ("harsh_max_gap_s", t.harsh_max_gap_s),
            ("idle_speed_kmh", t.idle_speed_kmh),
            ("idle_min_duration_s", t.idle_min_duration_s),
            ("idle_max_gap_s", t.idle_max_gap_s),
            ("expire_after_s", t.expire_after_s),
            ("coolant_max_c", t.coolant_max_c),
        ];
        for (field, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(invalid(
                    format!("thresholds.{field}"),
                    format!("must be a positive number, not {value}"),
                ));
            }
        }
        let not_negative: [(&str, f64); 4] = [
            ("overspeed_tolerance_pct", t.overspeed_tolerance_pct),
            ("overspeed_clear_after_s", t.overspeed_clear_after_s),
            ("harsh_min_gap_s", t.harsh_min_gap_s),
            ("geofence_exit_margin_m", t.geofence_exit_margin_m),
        ];
        for (field, value) in not_negative {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(
                    format!("thresholds.{field}"),
                    format!("must be a number of at least 0, not {value}"),
                ));
            }
        }
        if !t.coolant_clear_c.is_finite() || t.coolant_clear_c > t.coolant_max_c {
            return Err(invalid(
                "thresholds.coolant_clear_c".into(),
                format!(
                    "must be a number no higher than coolant_max_c ({}), not {}",
                    t.coolant_max_c, t.coolant_clear_c
                ),
            ));
        }
        if t.harsh_min_gap_s >= t.harsh_max_gap_s {
            return Err(invalid(
                "thresholds.harsh_min_gap_s".into(),
                format!(
                    "must be below harsh_max_gap_s ({}), not {}",
                    t.harsh_max_gap_s, t.harsh_min_gap_s
                ),
            ));
        }
        Ok(())
    }
}

fn invalid(field: String, reason: String) -> ConfigError {
    ConfigError::Invalid { field, reason }
}

/// Letters, digits, `-` and `_`, at most [`MAX_GEOFENCE_ID_LEN`].
pub fn is_valid_geofence_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_GEOFENCE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_brief_defaults() {
        let config = AlertsConfig::parse("", "test").unwrap();
        assert_eq!(config, AlertsConfig::default());
        let t = &config.thresholds;
        assert_eq!(t.overspeed_tolerance_pct, 5.0);
        assert_eq!(t.overspeed_min_duration_s, 10.0);
        assert_eq!(t.harsh_braking_g, 0.4);
        assert_eq!(t.harsh_acceleration_g, 0.3);
        assert_eq!(t.idle_min_duration_s, 300.0);
        assert_eq!(t.coolant_max_c, 110.0);
        assert_eq!(t.expire_after_s, 600.0);
    }

    #[test]
    fn thresholds_and_geofences_load_from_toml() {
        let text = r#"
            [thresholds]
            harsh_braking_g = 0.5
            expire_after_s = 60

            [[geofences.circles]]
            id = "depot"
            name = "Depot"
            lat = 48.1372
            lon = 11.5756
            radius_m = 150.0

            [[geofences.polygons]]
            id = "old-town"
            name = "Old town"
            points = [
              { lat = 48.130, lon = 11.560 },
              { lat = 48.130, lon = 11.580 },
              { lat = 48.140, lon = 11.580 },
            ]
        "#;
        let config = AlertsConfig::parse(text, "test").unwrap();
        assert_eq!(config.thresholds.harsh_braking_g, 0.5);
        assert_eq!(config.thresholds.expire_after_s, 60.0);
        assert_eq!(config.thresholds.harsh_acceleration_g, 0.3, "default kept");
        assert_eq!(config.geofences.circles[0].radius_m, 150.0);
        assert_eq!(config.geofences.polygons[0].points.len(), 3);
    }

    #[test]
    fn bad_configurations_are_refused_with_the_field_named() {
        let refused = |text: &str, field: &str| {
            let error = AlertsConfig::parse(text, "test").unwrap_err().to_string();
            assert!(error.contains(field), "{text}: {error}");
        };
        refused("[thresholds]\nharsh_braking_g = -0.4", "harsh_braking_g");
        refused("[thresholds]\nexpire_after_s = nan", "expire_after_s");
        refused("[thresholds]\ncoolant_clear_c = 120", "coolant_clear_c");
        refused("[thresholds]\nharsh_min_gap_s = 3", "harsh_min_gap_s");
        refused("[thresholds]\nno_such_threshold = 1", "no_such_threshold");
        let circle = |id: &str, radius: f64| {
            format!(
                "[[geofences.circles]]\nid = \"{id}\"\nname = \"x\"\nlat = 48.1\nlon = 11.5\nradius_m = {radius}\n"
            )
        };
        refused(&circle("a b", 10.0), "geofences[a b]");
        refused(&circle(&"x".repeat(29), 10.0), "geofences[");
        refused(&circle("depot", 0.0), "geofences.circles[depot]");
        refused(
            &format!("{}{}", circle("depot", 10.0), circle("depot", 20.0)),
            "defined twice",
        );
        refused(
            "[[geofences.polygons]]\nid = \"p\"\nname = \"P\"\npoints = [{ lat = 48.1, lon = 11.5 }, { lat = 48.2, lon = 11.5 }]",
            "geofences.polygons[p]",
        );
        refused(
            "[[geofences.polygons]]\nid = \"p\"\nname = \"P\"\npoints = [{ lat = 48.1, lon = 11.5 }, { lat = 48.2, lon = 11.5 }, { lat = 95.0, lon = 11.6 }]",
            "geofences.polygons[p]",
        );
    }
}
