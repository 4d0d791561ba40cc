//! Encoding and decoding payloads by the contract: JSON validated by the version's JSON Schema, Avro
//! named by the writer schema's Rabin fingerprint and resolved to the reader's version.
//!
//! Schemas are parsed and validators compiled once per process (they are cached for the life of
//! the program: there is a fixed number of them), so the per-message cost is the decode itself.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use jsonschema::Validator;

use crate::{Contract, registry};

/// AMQP header carrying the Avro writer schema's fingerprint (16 lowercase hex digits).
pub const AVRO_FINGERPRINT_HEADER: &str = "x-instadash-avro-fingerprint";

/// What went wrong decoding or encoding a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("payload is not valid JSON: {0}")]
    NotJson(String),
    /// The payload breaks the JSON Schema; `pointer` is the JSON pointer of the first offence and
    /// `check` the JSON Schema keyword it fails.
    #[error("payload fails `{check}` of {schema} at `{pointer}`: {message}")]
    Invalid {
        schema: String,
        check: String,
        pointer: String,
        message: String,
    },
    #[error("payload does not fit the Rust binding: {0}")]
    Binding(String),
    #[error("Avro: {0}")]
    Avro(String),
    #[error("no known Avro schema of {type_} has fingerprint {fingerprint}")]
    UnknownFingerprint {
        type_: &'static str,
        fingerprint: String,
    },
    #[error("{type_} v{version} has no {what}")]
    NoSchema {
        type_: String,
        version: u32,
        what: &'static str,
    },
}

/// The Rabin fingerprint (CRC-64-AVRO of the Parsing Canonical Form) of an Avro schema, as
/// 16 lowercase hex digits of its 8 little-endian bytes: the value of [`AVRO_FINGERPRINT_HEADER`].
/// These are the bytes that follow `C3 01` in Avro's single-object encoding; the schema `"null"`
/// gives `8a8f25cce724dd63` (the 64-bit value 0x63dd24e7cc258f8a).
///
/// Computed here rather than with apache-avro's `fingerprint::<Rabin>()`: apache-avro 0.22 keeps
/// `{"type":"long"}` in the canonical form of a logical type such as `timestamp-millis`, where the
/// specification (and the Java, Python and Ruby implementations) write `"long"`, so its
/// fingerprints of our telemetry schemas would not match those of clients in other languages.
pub fn avro_fingerprint(schema: &Schema) -> String {
    rabin(canonical_form(schema).as_bytes())
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Parsing Canonical Form of `schema` as the Avro specification defines it.
pub fn canonical_form(schema: &Schema) -> String {
    let mut form = schema.canonical_form();
    // A primitive that carried a logical type (or other attributes) must become the bare name.
    // `{"type":"<primitive>"}` cannot be anything else in a canonical form: named types start
    // with "name", arrays and maps have a second key.
    for primitive in [
        "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    ] {
        form = form.replace(
            &format!("{{\"type\":\"{primitive}\"}}"),
            &format!("\"{primitive}\""),
        );
    }
    form
}

/// CRC-64-AVRO, the "Rabin" fingerprint of the Avro specification.
fn rabin(bytes: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    const TABLE: [u64; 256] = {
        let mut table = [0; 256];
        let mut i = 0;
        while i < 256 {
            let mut fp = i as u64;
            let mut bit = 0;
            while bit < 8 {
                fp = (fp >> 1) ^ (EMPTY & 0u64.wrapping_sub(fp & 1));
                bit += 1;
            }
            table[i] = fp;
            i += 1;
        }
        table
    };
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

/// The compiled validator of one version's JSON Schema, built on first use.
pub fn json_validator(type_: &str, version: u32) -> Result<&'static Validator, CodecError> {
    static CACHE: OnceLock<Mutex<HashMap<(String, u32), &'static Validator>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(&(type_.to_owned(), version)) {
        return Ok(v);
    }
    let no_schema = || CodecError::NoSchema {
        type_: type_.to_owned(),
        version,
        what: "JSON Schema",
    };
    let text = registry::binding(type_, version)
        .and_then(|b| b.json_schema())
        .ok_or_else(no_schema)?;
    let schema: serde_json::Value = serde_json::from_str(text).map_err(|_| no_schema())?;
    let validator = jsonschema::draft202012::new(&schema).map_err(|_| no_schema())?;
    let validator: &'static Validator = Box::leak(Box::new(validator));
    cache.insert((type_.to_owned(), version), validator);
    Ok(validator)
}

/// A parsed Avro schema, kept for the life of the program so readers and writers can borrow it.
fn static_avro_schema(text: &'static str) -> Result<&'static Schema, CodecError> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static Schema>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = cache.get(text) {
        return Ok(s);
    }
    let schema = Schema::parse_str(text).map_err(|e| CodecError::Avro(e.to_string()))?;
    let schema: &'static Schema = Box::leak(Box::new(schema));
    cache.insert(text, schema);
    Ok(schema)
}

/// JSON payloads of `T`: validated against the writer's version of the JSON Schema, then
/// deserialized into `T` (which ignores properties it does not know, so a v1 binding reads v2).
pub struct JsonCodec<T> {
    /// The validator of every known version of the type (of its JSON Schema), compiled once.
    validators: Vec<(u32, &'static Validator)>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Contract> JsonCodec<T> {
    pub fn new() -> Result<Self, CodecError> {
        let mut validators = vec![(T::VERSION, json_validator(T::TYPE, T::VERSION)?)];
        for b in registry::bindings() {
            if b.type_() == T::TYPE && b.version() != T::VERSION && b.json_schema().is_some() {
                validators.push((b.version(), json_validator(T::TYPE, b.version())?));
            }
        }
        Ok(JsonCodec {
            validators,
            _t: PhantomData,
        })
    }

    /// Serializes `value` (not validated: the binding and its example are tested against the schema).
    pub fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(|e| CodecError::Binding(e.to_string()))
    }

    /// Decodes a payload written with this binding's version.
    pub fn decode(&self, payload: &[u8]) -> Result<T, CodecError> {
        Self::decode_with(self.validators[0].1, T::VERSION, payload)
    }

    /// Decodes a payload written with version `writer_version` of the type (from its
    /// `dataschema`): validated by that version's schema, read by this binding.
    pub fn decode_version(&self, payload: &[u8], writer_version: u32) -> Result<T, CodecError> {
        let (_, validator) = self
            .validators
            .iter()
            .find(|(v, _)| *v == writer_version)
            .ok_or_else(|| CodecError::NoSchema {
                type_: T::TYPE.to_owned(),
                version: writer_version,
                what: "JSON Schema",
            })?;
        Self::decode_with(validator, writer_version, payload)
    }

    /// Checks a value against this binding's version of the schema: what is sent must follow it.
    pub fn validate(&self, value: &serde_json::Value) -> Result<(), CodecError> {
        Self::check(self.validators[0].1, T::VERSION, value)
    }

    fn decode_with(validator: &Validator, version: u32, payload: &[u8]) -> Result<T, CodecError> {
        let value: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| CodecError::NotJson(e.to_string()))?;
        Self::check(validator, version, &value)?;
        T::deserialize(value).map_err(|e| CodecError::Binding(e.to_string()))
    }

    fn check(
        validator: &Validator,
        version: u32,
        value: &serde_json::Value,
    ) -> Result<(), CodecError> {
        // `is_valid` is the fast path; errors are only collected for the rare invalid payload.
        if validator.is_valid(value) {
            return Ok(());
        }
        let error = validator.iter_errors(value).next();
        Err(CodecError::Invalid {
            schema: crate::dataschema(T::TYPE, version),
            check: error
                .as_ref()
                .map(|e| e.kind().keyword().to_owned())
                .unwrap_or_default(),
            pointer: error
                .as_ref()
                .map(|e| e.instance_path().to_string())
                .unwrap_or_default(),
            message: error.map(|e| e.to_string()).unwrap_or_default(),
        })
    }
}

/// How to read data written with one known version.
struct AvroReader {
    version: u32,
    fingerprint: String,
    /// Deserialize straight from the writer's schema into `T` (same version, or a projection),
    /// instead of going through apache-avro's generic `Value` and resolution.
    direct: bool,
    reader: GenericDatumReader<'static>,
}

/// Whether data written with `writer` reads into the binding of `reader` field by field, the way
/// serde reads: every reader field is in the writer with the very same schema, or is missing there
/// and optional (`["null", ...]`, default `null`). Avro resolution would then only skip the
/// writer's extra fields and fill nulls, which serde does by itself (unknown fields are ignored,
/// missing `Option`s are `None`), so the costly generic `Value` path is not needed. Anything else
/// (promotions, other defaults, aliases, reordered enums) goes through real resolution.
fn is_projection(writer: &Schema, reader: &Schema) -> bool {
    let (Schema::Record(w), Schema::Record(r)) = (writer, reader) else {
        return false;
    };
    w.name == r.name
        && r.fields.iter().all(|rf| {
            rf.aliases.is_empty()
                && match w.fields.iter().find(|wf| wf.name == rf.name) {
                    Some(wf) => wf.schema == rf.schema,
                    None => {
                        matches!(&rf.schema, Schema::Union(u) if matches!(u.variants().first(), Some(Schema::Null)))
                            && rf.default == Some(serde_json::Value::Null)
                    }
                }
        })
}

fn own_schema_text<T: Contract>() -> Result<&'static str, CodecError> {
    T::AVRO_SCHEMAS
        .iter()
        .find(|(v, _)| *v == T::VERSION)
        .map(|(_, text)| *text)
        .ok_or_else(|| CodecError::NoSchema {
            type_: T::TYPE.to_owned(),
            version: T::VERSION,
            what: "Avro schema",
        })
}

/// Avro payloads of `T`: written with this binding's schema, read from any known version by
/// resolving the writer's schema to this one. Build it once and keep it: schemas are parsed and
/// readers prepared here. When another version differs only by optional fields (the usual
/// evolution), its data is deserialized straight into `T`; otherwise it goes through apache-avro's
/// schema resolution on its generic `Value`, about six times slower.
pub struct AvroCodec<T> {
    writer: GenericDatumWriter<'static>,
    fingerprint: String,
    readers: Vec<AvroReader>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Contract> AvroCodec<T> {
    pub fn new() -> Result<Self, CodecError> {
        let own = static_avro_schema(own_schema_text::<T>()?)?;
        let avro = |e: apache_avro::Error| CodecError::Avro(e.to_string());
        let mut readers = Vec::new();
        for &(version, text) in T::AVRO_SCHEMAS {
            let writer = static_avro_schema(text)?;
            let builder = GenericDatumReader::builder(writer);
            let direct = version == T::VERSION || is_projection(writer, own);
            let reader = if direct {
                builder.build()
            } else {
                builder.reader_schema(own).build()
            };
            readers.push(AvroReader {
                version,
                fingerprint: avro_fingerprint(writer),
                direct,
                reader: reader.map_err(avro)?,
            });
        }
        Ok(AvroCodec {
            writer: GenericDatumWriter::builder(own).build().map_err(avro)?,
            fingerprint: avro_fingerprint(own),
            readers,
            _t: PhantomData,
        })
    }

    /// The fingerprint of the schema [`encode`](Self::encode) writes with.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The Avro binary datum of `value` (no container header, no single-object marker).
    pub fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        // Telemetry records are small; one allocation up front instead of a few growing ones.
        let mut bytes = Vec::with_capacity(128);
        self.writer
            .write_ser(&mut bytes, value)
            .map_err(|e| CodecError::Avro(e.to_string()))?;
        Ok(bytes)
    }

    /// Whether data of `writer_version` is read by the generic path: apache-avro's `Value` and
    /// schema resolution (slower), rather than deserialized directly. `None` if not a known version.
    pub fn resolves_through_value(&self, writer_version: u32) -> Option<bool> {
        self.readers
            .iter()
            .find(|r| r.version == writer_version)
            .map(|r| !r.direct)
    }

    /// A codec that always resolves other versions through apache-avro's generic `Value`, never
    /// by projection: for comparison (benchmarks, tests).
    pub fn with_generic_resolution() -> Result<Self, CodecError> {
        let mut codec = Self::new()?;
        let own = static_avro_schema(own_schema_text::<T>()?)?;
        for r in codec.readers.iter_mut().filter(|r| r.version != T::VERSION) {
            let text = T::AVRO_SCHEMAS
                .iter()
                .find(|(v, _)| *v == r.version)
                .map(|(_, t)| *t)
                .unwrap_or_default();
            let writer = static_avro_schema(text)?;
            r.reader = GenericDatumReader::builder(writer)
                .reader_schema(own)
                .build()
                .map_err(|e| CodecError::Avro(e.to_string()))?;
            r.direct = false;
        }
        Ok(codec)
    }

    /// Decodes a datum written with the schema whose fingerprint is `writer_fingerprint`.
    pub fn decode(&self, payload: &[u8], writer_fingerprint: &str) -> Result<T, CodecError> {
        let reader = self
            .readers
            .iter()
            .find(|r| r.fingerprint == writer_fingerprint)
            .ok_or_else(|| CodecError::UnknownFingerprint {
                type_: T::TYPE,
                fingerprint: writer_fingerprint.to_owned(),
            })?;
        self.read(reader, payload)
    }

    /// Decodes a datum written with version `writer_version` of the type's Avro schema.
    pub fn decode_version(&self, payload: &[u8], writer_version: u32) -> Result<T, CodecError> {
        let reader = self
            .readers
            .iter()
            .find(|r| r.version == writer_version)
            .ok_or_else(|| CodecError::NoSchema {
                type_: T::TYPE.to_owned(),
                version: writer_version,
                what: "Avro schema",
            })?;
        self.read(reader, payload)
    }

    fn read(&self, reader: &AvroReader, mut payload: &[u8]) -> Result<T, CodecError> {
        let avro = |e: apache_avro::Error| CodecError::Avro(e.to_string());
        let value = if reader.direct {
            reader.reader.read_deser(&mut payload).map_err(avro)?
        } else {
            // apache-avro cannot yet deserialize typed values through a reader schema, so
            // resolution goes through its generic `Value`.
            let value = reader.reader.read_value(&mut payload).map_err(avro)?;
            apache_avro::from_value(&value).map_err(|e| CodecError::Binding(e.to_string()))?
        };
        // Bytes left over mean the datum was not written with the schema it claims.
        if !payload.is_empty() {
            return Err(CodecError::Avro(format!(
                "{} bytes left after the datum",
                payload.len()
            )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use apache_avro::Schema;
    use apache_avro::rabin::Rabin;

    use super::{avro_fingerprint, canonical_form, is_projection};

    #[test]
    fn fingerprints_follow_the_specification() {
        // The specification's example value for "null".
        assert_eq!(avro_fingerprint(&Schema::Null), "8a8f25cce724dd63");
        // Without logical types, apache-avro agrees.
        let plain = Schema::parse_str(
            r#"{"type":"record","name":"P","namespace":"x","fields":[{"name":"a","type":"long"},{"name":"b","type":["null","double"],"default":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            avro_fingerprint(&plain),
            plain.fingerprint::<Rabin>().to_string()
        );
        // With one, the logical type is stripped down to the primitive.
        let logical = Schema::parse_str(
            r#"{"type":"record","name":"P","namespace":"x","fields":[{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_form(&logical),
            r#"{"name":"x.P","type":"record","fields":[{"name":"t","type":"long"}]}"#
        );
    }

    #[test]
    fn only_optional_differences_are_projections() {
        let record = |fields: &str| {
            Schema::parse_str(&format!(
                r#"{{"type":"record","name":"R","namespace":"x","fields":[{fields}]}}"#
            ))
            .unwrap()
        };
        let v1 = record(r#"{"name":"a","type":"int"}"#);
        let v2 = record(
            r#"{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}"#,
        );
        assert!(is_projection(&v2, &v1), "an extra writer field is skipped");
        assert!(is_projection(&v1, &v2), "a missing optional field is None");
        let promoted = record(r#"{"name":"a","type":"long"}"#);
        assert!(
            !is_projection(&v1, &promoted),
            "int -> long needs resolution"
        );
        let defaulted =
            record(r#"{"name":"a","type":"int"},{"name":"c","type":"int","default":5}"#);
        assert!(
            !is_projection(&v1, &defaulted),
            "a default other than null needs resolution"
        );
    }
}
