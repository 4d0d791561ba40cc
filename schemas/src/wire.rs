//! The contract on the bus: every binding is a [`broker_bridge::Message`] whose payload is encoded
//! in the type's wire encoding and checked against its schema when sent and when received.
//!
//! Sent: the value is validated against its version's JSON Schema (which holds the domain limits,
//! such as latitude ranges, that Avro cannot express), then written as JSON, or as Avro with the
//! writer fingerprint in [`AVRO_FINGERPRINT_HEADER`]; `dataschema` names type and version.
//! Received: the content type picks the decoder; JSON is validated against the writer's version
//! (from `dataschema`) when known, Avro is resolved from the writer's fingerprint. Either way the
//! binding reads compatible other versions.

use std::sync::OnceLock;

use broker_bridge::{Payload, RawPayload, Rejection};

use crate::codec::{AvroCodec, CodecError, JsonCodec};
use crate::{AVRO_FINGERPRINT_HEADER, Contract, Encoding};

/// A binding's codecs, built once per type (see the `contract!` macro).
pub struct Codecs<T> {
    json: Option<JsonCodec<T>>,
    avro: Option<AvroCodec<T>>,
    dataschema: String,
}

impl<T: Contract> Codecs<T> {
    pub fn new() -> Result<Self, CodecError> {
        let json = T::JSON_SCHEMA.map(|_| JsonCodec::new()).transpose()?;
        let avro = (!T::AVRO_SCHEMAS.is_empty())
            .then(AvroCodec::new)
            .transpose()?;
        Ok(Self {
            json,
            avro,
            dataschema: crate::dataschema_of::<T>(),
        })
    }

    /// The payload of `value` in the type's default encoding, after checking it against its schema.
    pub fn encode(&self, value: &T) -> Result<Payload, Rejection> {
        let mut json = None;
        if let Some(codec) = &self.json {
            let tree = serde_json::to_value(value)
                .map_err(|e| self.reject(CodecError::Binding(e.to_string())))?;
            codec.validate(&tree).map_err(|e| self.reject(e))?;
            json = Some(tree);
        }
        let (bytes, content_type, headers) = match (T::ENCODINGS.first(), &self.avro, json) {
            (Some(Encoding::Avro), Some(avro), _) => {
                let bytes = avro.encode(value).map_err(|e| self.reject(e))?;
                let fingerprint = (AVRO_FINGERPRINT_HEADER, avro.fingerprint().to_owned());
                (bytes, Encoding::Avro.content_type(), vec![fingerprint])
            }
            (_, _, Some(tree)) => {
                let bytes = serde_json::to_vec(&tree)
                    .map_err(|e| self.reject(CodecError::Binding(e.to_string())))?;
                (bytes, Encoding::Json.content_type(), Vec::new())
            }
            _ => {
                return Err(self.reject(CodecError::NoSchema {
                    type_: T::TYPE.to_owned(),
                    version: T::VERSION,
                    what: "schema for its wire encoding",
                }));
            }
        };
        Ok(Payload {
            bytes,
            content_type,
            data_schema: Some(self.dataschema.clone()),
            headers,
        })
    }

    /// Reads a received payload of any compatible version of the type.
    pub fn decode(&self, payload: &RawPayload<'_>) -> Result<T, Rejection> {
        let encoding = Encoding::from_content_type(payload.content_type)
            .filter(|e| T::ENCODINGS.contains(e))
            .ok_or_else(|| self.wrong_content_type(payload.content_type))?;
        match encoding {
            Encoding::Avro => {
                let codec = self
                    .avro
                    .as_ref()
                    .ok_or_else(|| self.wrong_content_type(payload.content_type))?;
                let fingerprint =
                    payload
                        .header(AVRO_FINGERPRINT_HEADER)
                        .ok_or_else(|| Rejection {
                            reason: "Avro payload without its writer schema's fingerprint".into(),
                            check: "avro-fingerprint".into(),
                            pointer: String::new(),
                            schema: Some(self.dataschema.clone()),
                            detail: format!("header `{AVRO_FINGERPRINT_HEADER}` is missing"),
                        })?;
                codec
                    .decode(payload.body, fingerprint)
                    .map_err(|e| self.reject(e))
            }
            Encoding::Json => {
                let codec = self
                    .json
                    .as_ref()
                    .ok_or_else(|| self.wrong_content_type(payload.content_type))?;
                // Validated against the version it was written with, when this build knows it;
                // else against our own (objects are open, so newer compatible versions pass).
                let writer = payload
                    .data_schema
                    .and_then(crate::parse_dataschema)
                    .filter(|(kind, _)| *kind == T::TYPE)
                    .map(|(_, version)| version);
                match writer {
                    Some(version) if version != T::VERSION => codec
                        .decode_version(payload.body, version)
                        .or_else(|e| match e {
                            CodecError::NoSchema { .. } => codec.decode(payload.body),
                            other => Err(other),
                        }),
                    _ => codec.decode(payload.body),
                }
                .map_err(|e| self.reject(e))
            }
        }
    }

    fn wrong_content_type(&self, given: &str) -> Rejection {
        let expected: Vec<_> = T::ENCODINGS.iter().map(|e| e.content_type()).collect();
        Rejection {
            reason: "wrong content type".into(),
            check: "content-type".into(),
            pointer: String::new(),
            schema: Some(self.dataschema.clone()),
            detail: format!(
                "`{}` takes {}, got `{given}`",
                T::TYPE,
                expected.join(" or ")
            ),
        }
    }

    fn reject(&self, error: CodecError) -> Rejection {
        let detail = error.to_string();
        let (reason, check, pointer, schema) = match error {
            CodecError::Invalid {
                schema,
                check,
                pointer,
                ..
            } => ("schema validation failed", check, pointer, schema),
            CodecError::NotJson(_) => (
                "payload is not JSON",
                "json".into(),
                String::new(),
                self.dataschema.clone(),
            ),
            CodecError::Binding(_) => (
                "payload does not fit its type",
                "deserialize".into(),
                String::new(),
                self.dataschema.clone(),
            ),
            CodecError::Avro(_) => (
                "Avro payload does not decode",
                "avro-decode".into(),
                String::new(),
                self.dataschema.clone(),
            ),
            CodecError::UnknownFingerprint { .. } => (
                "unknown Avro writer schema",
                "avro-fingerprint".into(),
                String::new(),
                self.dataschema.clone(),
            ),
            CodecError::NoSchema { .. } => (
                "no schema for this version",
                "dataschema".into(),
                String::new(),
                self.dataschema.clone(),
            ),
        };
        Rejection {
            reason: reason.into(),
            check,
            pointer,
            schema: Some(schema),
            detail,
        }
    }
}

/// Where a binding keeps its codecs: one cell per type, made by `contract!`.
pub type CodecsCell<T> = OnceLock<Result<Codecs<T>, Rejection>>;

/// The codecs of binding `T`, built on first use and kept for the life of the program. Every
/// message encoded or decoded passes here, so it is a load from the type's own cell, no lock.
pub fn codecs<T: Contract>() -> Result<&'static Codecs<T>, Rejection> {
    T::codecs_cell()
        .get_or_init(|| {
            Codecs::new().map_err(|e| Rejection {
                reason: "the type's schemas do not load".into(),
                check: "schema".into(),
                pointer: String::new(),
                schema: Some(crate::dataschema_of::<T>()),
                detail: e.to_string(),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Checks a received message of CloudEvents type `kind` against the contract, as its consumers
/// would: with the binding of the version it was written with, else the newest binding of the
/// type. A type the contract does not know is rejected.
pub fn check_message(kind: &str, payload: &RawPayload<'_>) -> Result<(), Rejection> {
    let writer = payload
        .data_schema
        .and_then(crate::parse_dataschema)
        .filter(|(t, _)| *t == kind)
        .and_then(|(t, version)| crate::binding(t, version));
    let newest = || {
        crate::bindings()
            .iter()
            .copied()
            .filter(|b| b.type_() == kind)
            .max_by_key(|b| b.version())
    };
    let binding = writer.or_else(newest).ok_or_else(|| Rejection {
        reason: "unknown message type".into(),
        check: "type".into(),
        pointer: String::new(),
        schema: None,
        detail: format!("`{kind}` is not in the message contract"),
    })?;
    binding.check_payload(payload)
}
