//! `instadash.alert.raised`: the alerts service saw a condition worth an operator's attention.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::alert::{AlertType, Severity};
    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AlertRaised {
        pub alert_id: String,
        pub vehicle_id: String,
        pub alert_type: AlertType,
        pub severity: Severity,
        pub raised_at_ms: i64,
        /// Human-readable summary.
        pub message: String,
        pub details: AlertDetails,
    }

    /// Measurements behind the alert; which are set depends on the alert type.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct AlertDetails {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub speed_kmh: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub limit_kmh: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub duration_s: Option<f64>,
        /// Braking is negative.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub acceleration_g: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub coolant_c: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub trouble_codes: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub geofence_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub silent_for_s: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub lat: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub lon: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub trip_id: Option<String>,
    }

    contract! {
        AlertRaised {
            type: "instadash.alert.raised",
            version: 1,
            file: "alert/raised",
            encodings: [Json],
            subject: vehicle_id,
            example: AlertRaised {
                alert_id: "alert-5f1c".into(),
                vehicle_id: "car-0042".into(),
                alert_type: AlertType::Overspeed,
                severity: Severity::Warning,
                raised_at_ms: crate::EXAMPLE_TIME_MS,
                message: "92 km/h in a 50 zone for 14 s".into(),
                details: AlertDetails {
                    speed_kmh: Some(92.0),
                    limit_kmh: Some(50.0),
                    duration_s: Some(14.0),
                    lat: Some(48.137_154),
                    lon: Some(11.576_124),
                    trip_id: Some("trip-car-0042-0193".into()),
                    ..AlertDetails::default()
                },
            },
        }
    }
}
