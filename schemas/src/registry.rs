//! Every binding of the crate, type-erased, so `check` and the tests can walk them all and a
//! consumer can look a binding up by the `(type, version)` named in a `dataschema`.

use std::marker::PhantomData;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use serde_json::Value;

use crate::{Contract, Encoding, alert, dashcam, platform, trip, vehicle};

/// A [`Contract`] binding seen without its Rust type.
pub trait Binding: Sync {
    fn type_(&self) -> &'static str;
    fn version(&self) -> u32;
    fn encodings(&self) -> &'static [Encoding];
    fn json_schema(&self) -> Option<&'static str>;
    fn avro_schemas(&self) -> &'static [(u32, &'static str)];
    /// The Rust type's own name (no path), which Avro record names must equal.
    fn rust_name(&self) -> &'static str;
    /// The example, as JSON.
    fn example_json(&self) -> Value;
    /// The example's CloudEvents subject.
    fn example_subject(&self) -> Option<String>;
    /// Serializes the example to JSON, validates it with `validator`, deserializes it back and
    /// compares. The error says which step failed.
    fn round_trip_json(&self, validator: &jsonschema::Validator) -> Result<(), String>;
    /// Encodes the example with `schema` (through a generic Avro value, as `to_avro_datum` does,
    /// and through the schema-aware serializer), decodes both ways and compares.
    fn round_trip_avro(&self, schema: &Schema) -> Result<(), String>;
    /// Reads a received payload the way a consumer of this binding does, keeping only the verdict.
    fn check_payload(
        &self,
        payload: &broker_bridge::RawPayload<'_>,
    ) -> Result<(), broker_bridge::Rejection>;
}

struct Of<T>(PhantomData<fn() -> T>);

impl<T: Contract> Binding for Of<T> {
    fn type_(&self) -> &'static str {
        T::TYPE
    }
    fn version(&self) -> u32 {
        T::VERSION
    }
    fn encodings(&self) -> &'static [Encoding] {
        T::ENCODINGS
    }
    fn json_schema(&self) -> Option<&'static str> {
        T::JSON_SCHEMA
    }
    fn avro_schemas(&self) -> &'static [(u32, &'static str)] {
        T::AVRO_SCHEMAS
    }
    fn rust_name(&self) -> &'static str {
        let full = std::any::type_name::<T>();
        full.rsplit("::").next().unwrap_or(full)
    }
    fn example_json(&self) -> Value {
        serde_json::to_value(T::example()).expect("examples serialize to JSON")
    }
    fn check_payload(
        &self,
        payload: &broker_bridge::RawPayload<'_>,
    ) -> Result<(), broker_bridge::Rejection> {
        crate::wire::codecs::<T>()?.decode(payload).map(drop)
    }
    fn example_subject(&self) -> Option<String> {
        T::example().subject()
    }

    fn round_trip_json(&self, validator: &jsonschema::Validator) -> Result<(), String> {
        let original = self.example_json();
        let errors: Vec<String> = validator
            .iter_errors(&original)
            .map(|e| match e.instance_path().as_str() {
                "" => format!("at the top level: {e}"),
                path => format!("at `{path}`: {e}"),
            })
            .collect();
        if !errors.is_empty() {
            return Err(format!(
                "example() is not valid against the JSON Schema: {}",
                errors.join("; ")
            ));
        }
        let bytes = serde_json::to_vec(&original).map_err(|e| e.to_string())?;
        let back: T = serde_json::from_slice(&bytes)
            .map_err(|e| format!("example() does not deserialize back from JSON: {e}"))?;
        let again = serde_json::to_value(back).map_err(|e| e.to_string())?;
        if again != original {
            return Err(format!(
                "example() changes through JSON: wrote {original}, read back {again}"
            ));
        }
        Ok(())
    }

    fn round_trip_avro(&self, schema: &Schema) -> Result<(), String> {
        let example = T::example();
        let original = self.example_json();
        let compare = |how: &str, back: T| {
            let again = serde_json::to_value(back).map_err(|e| e.to_string())?;
            if again == original {
                Ok(())
            } else {
                Err(format!(
                    "example() changes through Avro ({how}): wrote {original}, read back {again}"
                ))
            }
        };

        // The generic path: value -> Avro value resolved against the schema -> datum -> value.
        let value = apache_avro::to_value(&example)
            .and_then(|v| v.resolve(schema))
            .map_err(|e| format!("example() does not fit the Avro schema: {e}"))?;
        let writer = GenericDatumWriter::builder(schema)
            .build()
            .map_err(|e| e.to_string())?;
        let bytes = writer
            .write_value_to_vec(value)
            .map_err(|e| format!("example() cannot be written with the Avro schema: {e}"))?;
        let reader = GenericDatumReader::builder(schema)
            .build()
            .map_err(|e| e.to_string())?;
        let decoded = reader
            .read_value(&mut bytes.as_slice())
            .map_err(|e| format!("Avro datum cannot be read back: {e}"))?;
        let back: T = apache_avro::from_value(&decoded)
            .map_err(|e| format!("Avro value does not deserialize: {e}"))?;
        compare("generic value", back)?;

        // The fast path the codec uses: schema-aware serializer and deserializer.
        let direct = writer
            .write_ser_to_vec(&example)
            .map_err(|e| format!("example() cannot be serialized with the Avro schema: {e}"))?;
        if direct != bytes {
            return Err(
                "the schema-aware serializer and the generic writer produce different bytes".into(),
            );
        }
        let back: T = reader
            .read_deser(&mut direct.as_slice())
            .map_err(|e| format!("Avro datum does not deserialize directly: {e}"))?;
        compare("schema-aware", back)
    }
}

macro_rules! bindings {
    ($($ty:ty),+ $(,)?) => {
        static BINDINGS: &[&dyn Binding] = &[$(&Of::<$ty>(PhantomData)),+];
    };
}

bindings![
    vehicle::position::v1::Position,
    vehicle::position::v2::Position,
    vehicle::obd_reading::v1::ObdReading,
    vehicle::trouble_codes::v1::TroubleCodes,
    vehicle::ignition::v1::Ignition,
    vehicle::status_changed::v1::StatusChanged,
    vehicle::get_state::v1::GetState,
    vehicle::get_state_reply::v1::GetStateReply,
    vehicle::list_vehicles::v1::ListVehicles,
    vehicle::list_vehicles_reply::v1::ListVehiclesReply,
    vehicle::find_nearest::v1::FindNearest,
    vehicle::find_nearest_reply::v1::FindNearestReply,
    vehicle::get_route::v1::GetRoute,
    vehicle::get_route_reply::v1::GetRouteReply,
    dashcam::clip_captured::v1::ClipCaptured,
    dashcam::fetch_clip::v1::FetchClip,
    dashcam::get_clip_bytes::v1::GetClipBytes,
    dashcam::get_clip_bytes_reply::v1::GetClipBytesReply,
    dashcam::clip_stored::v1::ClipStored,
    alert::raised::v1::AlertRaised,
    alert::acknowledged::v1::AlertAcknowledged,
    alert::cleared::v1::AlertCleared,
    alert::list_active::v1::ListActive,
    alert::list_active_reply::v1::ListActiveReply,
    alert::acknowledge::v1::Acknowledge,
    alert::acknowledge_reply::v1::AcknowledgeReply,
    trip::started::v1::TripStarted,
    trip::ended::v1::TripEnded,
    trip::list_trips::v1::ListTrips,
    trip::list_trips_reply::v1::ListTripsReply,
    platform::service_announced::v1::ServiceAnnounced,
    platform::service_heartbeat::v1::ServiceHeartbeat,
    platform::service_goodbye::v1::ServiceGoodbye,
    platform::directory_ping::v1::DirectoryPing,
    platform::service_stats::v1::ServiceStats,
    platform::trace_query::v1::TraceQuery,
    platform::trace_spans::v1::TraceSpans,
];

/// Every binding in the crate.
pub fn bindings() -> &'static [&'static dyn Binding] {
    BINDINGS
}

/// The binding of one version of one type, e.g. from a parsed `dataschema`.
pub fn binding(type_: &str, version: u32) -> Option<&'static dyn Binding> {
    BINDINGS
        .iter()
        .copied()
        .find(|b| b.type_() == type_ && b.version() == version)
}
