//! The Instadash message contract.
//!
//! The schema files next to this crate (`<domain>/<name>.v<N>.schema.json` and `.avsc`) and
//! `catalog.toml` are the source of truth; this crate embeds them (`include_str!`), offers typed
//! Rust bindings for every message type and version, and [`check`](check::check)s that files,
//! catalog and bindings agree and that every new version stays compatible with the one before.
//! `README.md` describes the contract for clients in any language.

use serde::{Deserialize, Serialize};

pub mod asyncapi;
pub mod catalog;
pub mod check;
pub mod codec;
mod compat;
mod registry;
mod serde_base64;
pub mod wire;

pub mod alert;
pub mod dashcam;
pub mod platform;
pub mod trip;
pub mod vehicle;

pub use broker_bridge::Message;
pub use catalog::{Catalog, Kind, MessageSpec};
pub use check::{Problem, Report, check};
pub use codec::{AVRO_FINGERPRINT_HEADER, AvroCodec, CodecError, JsonCodec, avro_fingerprint};
pub use registry::{Binding, binding, bindings};

/// A payload encoding. The catalog lists a type's encodings with the wire default first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Json,
    Avro,
}

impl Encoding {
    /// The CloudEvents `datacontenttype` (AMQP `content_type`) of this encoding.
    pub const fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Avro => "application/avro",
        }
    }

    /// The encoding of a `content_type`, ignoring parameters such as `; charset=utf-8`.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type.split(';').next()?.trim() {
            "application/json" => Some(Encoding::Json),
            "application/avro" => Some(Encoding::Avro),
            _ => None,
        }
    }

    /// The schema file suffix for this encoding.
    pub const fn file_suffix(self) -> &'static str {
        match self {
            Encoding::Json => "schema.json",
            Encoding::Avro => "avsc",
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Avro => "avro",
        }
    }
}

/// A Rust type bound to one version of one message type of the contract. Its CloudEvents `type`
/// (version-free: `instadash.<domain>.<name>`), schema `VERSION` and `subject` are those of its
/// [`broker_bridge::Message`] side.
pub trait Contract: broker_bridge::Message {
    /// Wire encodings this binding supports, the default first.
    const ENCODINGS: &'static [Encoding];
    /// The JSON Schema text of this version, if it has one (include_str! of the file).
    const JSON_SCHEMA: Option<&'static str>;
    /// Every known version's Avro schema text for this type, (version, text), so a reader can
    /// resolve any known writer; empty if not Avro.
    const AVRO_SCHEMAS: &'static [(u32, &'static str)];

    /// A realistic example value, used by tests and by `schema check`.
    fn example() -> Self;

    /// Where this binding's codecs are kept once built (see [`wire::codecs`]).
    #[doc(hidden)]
    fn codecs_cell() -> &'static wire::CodecsCell<Self>;
}

/// Prefix of every `dataschema` URN.
pub const DATASCHEMA_PREFIX: &str = "urn:instadash:schema:";

/// The CloudEvents `dataschema` naming version `version` of `type_`:
/// `urn:instadash:schema:<type>:v<N>`. It is also the `$id` of the version's JSON Schema.
pub fn dataschema(type_: &str, version: u32) -> String {
    format!("{DATASCHEMA_PREFIX}{type_}:v{version}")
}

/// The `dataschema` of a binding.
pub fn dataschema_of<T: Contract>() -> String {
    dataschema(T::TYPE, T::VERSION)
}

/// Splits a `dataschema` URN into type and version; `None` if it is not one of ours.
pub fn parse_dataschema(urn: &str) -> Option<(&str, u32)> {
    let rest = urn.strip_prefix(DATASCHEMA_PREFIX)?;
    let (type_, version) = rest.rsplit_once(':')?;
    let version = version.strip_prefix('v')?;
    // Plain decimal digits only: `v+1` or `v01` would parse but are not what we write.
    if version.is_empty()
        || version.starts_with('0')
        || !version.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if !catalog::is_valid_type(type_) {
        return None;
    }
    Some((type_, version.parse().ok()?))
}

/// Implements [`Contract`] for a binding, with the schema texts taken from the files (one source
/// of truth): `file` is the path under `schemas/` without `.v<N>.<suffix>`.
macro_rules! contract {
    (
        $ty:ident {
            type: $type_:literal,
            version: $version:literal,
            file: $file:literal,
            encodings: [$($enc:ident),+ $(,)?],
            $(avro: [$($avro:literal),+ $(,)?],)?
            $(subject: $subject:ident,)?
            example: $example:expr $(,)?
        }
    ) => {
        impl $crate::Contract for $ty {
            const ENCODINGS: &'static [$crate::Encoding] = &[$($crate::Encoding::$enc),+];
            const JSON_SCHEMA: Option<&'static str> = Some(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/", $file, ".v", $version, ".schema.json"
            )));
            const AVRO_SCHEMAS: &'static [(u32, &'static str)] = &[$($(
                ($avro, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $file, ".v", $avro, ".avsc"))),
            )+)?];
            fn example() -> Self {
                $example
            }

            fn codecs_cell() -> &'static $crate::wire::CodecsCell<Self> {
                static CELL: $crate::wire::CodecsCell<$ty> = std::sync::OnceLock::new();
                &CELL
            }
        }

        impl ::broker_bridge::Message for $ty {
            const TYPE: &'static str = $type_;
            const VERSION: u32 = $version;
            $(
                fn subject(&self) -> Option<String> {
                    Some(self.$subject.clone())
                }
            )?
            fn encode(&self) -> Result<::broker_bridge::Payload, ::broker_bridge::Rejection> {
                $crate::wire::codecs::<Self>()?.encode(self)
            }
            fn decode(
                payload: &::broker_bridge::RawPayload<'_>,
            ) -> Result<Self, ::broker_bridge::Rejection> {
                $crate::wire::codecs::<Self>()?.decode(payload)
            }
        }
    };
}
pub(crate) use contract;

/// A fixed, plausible point in time for examples: 2026-11-03T08:15:30.250Z.
pub(crate) const EXAMPLE_TIME_MS: i64 = 1_793_693_730_250;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataschema_round_trips() {
        let urn = dataschema("instadash.vehicle.position", 2);
        assert_eq!(urn, "urn:instadash:schema:instadash.vehicle.position:v2");
        assert_eq!(
            parse_dataschema(&urn),
            Some(("instadash.vehicle.position", 2))
        );
        for bad in [
            "urn:instadash:schema:instadash.vehicle.position",
            "urn:instadash:schema:instadash.vehicle.position:2",
            "urn:instadash:schema:instadash.vehicle.position:v",
            "urn:instadash:schema:instadash.vehicle.position:v02",
            "urn:instadash:schema:instadash.vehicle.position:v+2",
            "urn:instadash:schema:instadash.vehicle.position.v1:v1",
            "urn:other:instadash.vehicle.position:v1",
        ] {
            assert_eq!(parse_dataschema(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types_map_to_encodings() {
        assert_eq!(
            Encoding::from_content_type("application/json; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(
            Encoding::from_content_type("application/avro"),
            Some(Encoding::Avro)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
    }
}
