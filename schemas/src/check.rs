//! `check(dir)`: does a schema directory (the shipped one, or a copy being edited) hold together?
//!
//! 1. `catalog.toml` parses and keeps its rules (see [`Catalog::validate`]).
//! 2. Every catalog version has exactly one file per encoding, and no file is orphaned.
//! 3. Every file parses: JSON Schemas are valid draft 2020-12 (checked against the meta-schema),
//!    with `$id` = the dataschema URN and no object closed to extra properties; Avro files parse,
//!    and their record is `instadash.<domain>.<RustName>`. Where a version ships both, the Avro
//!    fields and the JSON properties agree.
//! 4. Every catalog version has a Rust binding, and every binding's `example()` validates against
//!    the file on disk and survives a round trip through it.
//! 5. Every version is compatible with the one before, both ways (Avro: apache-avro's schema
//!    resolution check; JSON Schema: the rules in `compat`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use apache_avro::Schema;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use serde_json::Value;

use crate::catalog::{Catalog, CatalogError, MessageSpec};
use crate::{Binding, Encoding, compat, dataschema};

const META_SCHEMA: &str = "https://json-schema.org/draft/2020-12/schema";

/// One thing wrong, with as much of type, version and file as applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub type_: Option<String>,
    pub version: Option<u32>,
    /// Relative to the checked directory.
    pub file: Option<PathBuf>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = Vec::new();
        if let Some(t) = &self.type_ {
            head.push(t.clone());
        }
        if let Some(v) = self.version {
            head.push(format!("v{v}"));
        }
        if let Some(file) = &self.file {
            head.push(format!("({})", file.display()));
        }
        if head.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", head.join(" "), self.message)
        }
    }
}

/// What a successful check covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub types: usize,
    pub versions: usize,
    pub files: usize,
    /// Example round trips (one per binding and encoding).
    pub round_trips: usize,
    /// Pairs of consecutive versions compared, per encoding.
    pub compatibility_pairs: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} types, {} versions, {} schema files, {} example round trips, {} version pairs compatible",
            self.types, self.versions, self.files, self.round_trips, self.compatibility_pairs
        )
    }
}

/// Checks the schema directory `dir` (holding `catalog.toml` and the `<domain>/` folders) against
/// itself and against this crate's bindings.
pub fn check(dir: &Path) -> Result<Report, Vec<Problem>> {
    let catalog = match Catalog::load(dir) {
        Ok(c) => c,
        Err(CatalogError::Invalid(issues)) => {
            return Err(issues
                .into_iter()
                .map(|i| Problem {
                    type_: i.type_,
                    version: None,
                    file: Some("catalog.toml".into()),
                    message: i.message,
                })
                .collect());
        }
        Err(e) => {
            return Err(vec![Problem {
                type_: None,
                version: None,
                file: Some("catalog.toml".into()),
                message: e.to_string(),
            }]);
        }
    };
    let mut checker = Checker {
        dir,
        catalog: &catalog,
        problems: Vec::new(),
        report: Report::default(),
        json: HashMap::new(),
        avro: HashMap::new(),
    };
    checker.files();
    checker.bindings(crate::bindings());
    checker.compatibility();
    checker.report.types = catalog.messages.len();
    checker.report.versions = catalog.messages.iter().map(|m| m.versions.len()).sum();
    if checker.problems.is_empty() {
        Ok(checker.report)
    } else {
        Err(checker.problems)
    }
}

type Key = (String, u32);

struct Checker<'a> {
    dir: &'a Path,
    catalog: &'a Catalog,
    problems: Vec<Problem>,
    report: Report,
    json: HashMap<Key, (Value, jsonschema::Validator)>,
    avro: HashMap<Key, Schema>,
}

fn problem(
    problems: &mut Vec<Problem>,
    m: Option<&MessageSpec>,
    version: Option<u32>,
    file: Option<PathBuf>,
    message: String,
) {
    problems.push(Problem {
        type_: m.map(|m| m.type_.clone()),
        version,
        file,
        message,
    });
}

impl Checker<'_> {
    /// Steps 2 and 3: the set of files, then each file on its own.
    fn files(&mut self) {
        let catalog = self.catalog;
        let mut expected = BTreeMap::new();
        for m in &catalog.messages {
            for &v in &m.versions {
                for &e in &m.encodings {
                    expected.insert(m.file(v, e), (m, v, e));
                }
            }
        }
        let found = schema_files(self.dir);
        for file in found.difference(&expected.keys().cloned().collect()) {
            let owner = catalog
                .messages
                .iter()
                .find(|m| owner_stem(m) == stem_of(file));
            let why = match owner {
                Some(m) => format!(
                    "orphaned: the catalog lists versions {:?} in {}, which does not include this file",
                    m.versions,
                    m.encodings
                        .iter()
                        .map(|e| e.name())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                None => "orphaned: no catalog entry has a schema file by this name".to_owned(),
            };
            problem(&mut self.problems, owner, None, Some(file.clone()), why);
        }
        for (file, (m, v, e)) in expected {
            if !found.contains(&file) {
                problem(
                    &mut self.problems,
                    Some(m),
                    Some(v),
                    Some(file),
                    format!("missing: the catalog lists version {v} in {}", e.name()),
                );
                continue;
            }
            self.report.files += 1;
            let text = match std::fs::read_to_string(self.dir.join(&file)) {
                Ok(t) => t,
                Err(err) => {
                    problem(
                        &mut self.problems,
                        Some(m),
                        Some(v),
                        Some(file),
                        format!("cannot be read: {err}"),
                    );
                    continue;
                }
            };
            match e {
                Encoding::Json => self.json_file(m, v, file, &text),
                Encoding::Avro => self.avro_file(m, v, file, &text),
            }
        }
        // JSON and Avro of the same version must describe the same fields.
        for m in &catalog.messages {
            for &v in &m.versions {
                let key = (m.type_.clone(), v);
                if let (Some((json, _)), Some(avro)) = (self.json.get(&key), self.avro.get(&key)) {
                    for message in avro_json_differences(avro, json) {
                        problem(
                            &mut self.problems,
                            Some(m),
                            Some(v),
                            Some(m.file(v, Encoding::Avro)),
                            message,
                        );
                    }
                }
            }
        }
    }

    fn json_file(&mut self, m: &MessageSpec, v: u32, file: PathBuf, text: &str) {
        let doc: Value = match serde_json::from_str(text) {
            Ok(d) => d,
            Err(e) => {
                return problem(
                    &mut self.problems,
                    Some(m),
                    Some(v),
                    Some(file),
                    format!("is not JSON: {e}"),
                );
            }
        };
        let mut issues = Vec::new();
        if doc.get("$schema").and_then(Value::as_str) != Some(META_SCHEMA) {
            issues.push(format!(
                "`$schema` must be \"{META_SCHEMA}\" (draft 2020-12)"
            ));
        }
        let want_id = dataschema(&m.type_, v);
        if doc.get("$id").and_then(Value::as_str) != Some(want_id.as_str()) {
            issues.push(format!(
                "`$id` must be \"{want_id}\", the version's dataschema"
            ));
        }
        if doc.get("type").and_then(Value::as_str) != Some("object") {
            issues.push("the top level must be `\"type\": \"object\"`".to_owned());
        }
        if let Some(subject) = &m.subject {
            let required = doc["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|p| p == subject.as_str()));
            let string = doc["properties"][subject.as_str()]["type"] == "string";
            if !(required && string) {
                issues.push(format!(
                    "the catalog's subject `{subject}` must be a required string property"
                ));
            }
        }
        closed_objects(&doc, "", &mut issues);
        match jsonschema::meta::validate(&doc) {
            Err(e) => issues.push(format!(
                "is not a valid JSON Schema (meta-schema check at `{}`): {e}",
                e.instance_path()
            )),
            Ok(()) => match jsonschema::draft202012::new(&doc) {
                Err(e) => issues.push(format!("does not compile as a JSON Schema: {e}")),
                Ok(validator) if issues.is_empty() => {
                    self.json.insert((m.type_.clone(), v), (doc, validator));
                }
                Ok(_) => {}
            },
        }
        for issue in issues {
            problem(
                &mut self.problems,
                Some(m),
                Some(v),
                Some(file.clone()),
                issue,
            );
        }
    }

    fn avro_file(&mut self, m: &MessageSpec, v: u32, file: PathBuf, text: &str) {
        let schema = match Schema::parse_str(text) {
            Ok(s) => s,
            Err(e) => {
                return problem(
                    &mut self.problems,
                    Some(m),
                    Some(v),
                    Some(file),
                    format!("is not a valid Avro schema: {e}"),
                );
            }
        };
        let namespace = format!("instadash.{}", m.domain_and_name().0);
        match &schema {
            Schema::Record(r) if r.name.namespace() == Some(namespace.as_str()) => {
                self.avro.insert((m.type_.clone(), v), schema);
            }
            Schema::Record(r) => {
                let got = r.name.namespace().unwrap_or("none");
                problem(
                    &mut self.problems,
                    Some(m),
                    Some(v),
                    Some(file),
                    format!("the record's namespace must be `{namespace}`, not `{got}`"),
                );
            }
            _ => problem(
                &mut self.problems,
                Some(m),
                Some(v),
                Some(file),
                "the top level must be a record".to_owned(),
            ),
        }
    }

    /// Step 4: catalog entries and bindings match one to one, and every example fits its files.
    fn bindings(&mut self, bindings: &[&dyn Binding]) {
        let catalog = self.catalog;
        let mut by_key: HashMap<Key, &dyn Binding> = HashMap::new();
        for b in bindings {
            let known = catalog
                .get(b.type_())
                .is_some_and(|m| m.versions.contains(&b.version()));
            if !known {
                let msg = format!("the Rust binding `{}` has no catalog entry", b.rust_name());
                self.problems.push(Problem {
                    type_: Some(b.type_().into()),
                    version: Some(b.version()),
                    file: None,
                    message: msg,
                });
            }
            by_key.insert((b.type_().to_owned(), b.version()), *b);
        }
        for m in &catalog.messages {
            for &v in &m.versions {
                match by_key.get(&(m.type_.clone(), v)) {
                    None => problem(
                        &mut self.problems,
                        Some(m),
                        Some(v),
                        None,
                        "has no Rust binding (add one and list it in registry.rs)".into(),
                    ),
                    Some(b) => self.binding(m, v, *b),
                }
            }
        }
    }

    fn binding(&mut self, m: &MessageSpec, v: u32, b: &dyn Binding) {
        let name = b.rust_name();
        if b.encodings() != m.encodings.as_slice() {
            let msg = format!(
                "binding `{name}` declares encodings {:?}, the catalog {:?}",
                b.encodings(),
                m.encodings
            );
            problem(&mut self.problems, Some(m), Some(v), None, msg);
        }
        let avro_versions: Vec<u32> = b.avro_schemas().iter().map(|(v, _)| *v).collect();
        let want: &[u32] = if m.encodings.contains(&Encoding::Avro) {
            &m.versions
        } else {
            &[]
        };
        if avro_versions != want {
            let msg = format!(
                "binding `{name}` embeds Avro schemas of versions {avro_versions:?}, expected {want:?}"
            );
            problem(&mut self.problems, Some(m), Some(v), None, msg);
        }
        let example = b.example_json();
        let expected_subject = m
            .subject
            .as_ref()
            .and_then(|s| example.get(s))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if b.example_subject() != expected_subject {
            let msg = format!(
                "binding `{name}`: subject() gives {:?}, but the catalog's subject property holds {:?}",
                b.example_subject(),
                expected_subject
            );
            problem(&mut self.problems, Some(m), Some(v), None, msg);
        }
        let key = (m.type_.clone(), v);
        if let Some((_, validator)) = self.json.get(&key) {
            self.report.round_trips += 1;
            if let Err(e) = b.round_trip_json(validator) {
                problem(
                    &mut self.problems,
                    Some(m),
                    Some(v),
                    Some(m.file(v, Encoding::Json)),
                    e,
                );
            }
        }
        if let Some(schema) = self.avro.get(&key) {
            self.report.round_trips += 1;
            let record = match schema {
                Schema::Record(r) => r.name.name().to_owned(),
                _ => String::new(),
            };
            let result = if record != name {
                Err(format!(
                    "the record is named `{record}` but the Rust type is `{name}`: apache-avro needs them equal"
                ))
            } else {
                b.round_trip_avro(schema)
            };
            if let Err(e) = result {
                problem(
                    &mut self.problems,
                    Some(m),
                    Some(v),
                    Some(m.file(v, Encoding::Avro)),
                    e,
                );
            }
        }
    }

    /// Step 5: each version against the one before, in every encoding both have.
    fn compatibility(&mut self) {
        let catalog = self.catalog;
        for m in &catalog.messages {
            for pair in m.versions.windows(2) {
                let (old, new) = (pair[0], pair[1]);
                let (ok, nk) = ((m.type_.clone(), old), (m.type_.clone(), new));
                if let (Some((o, _)), Some((n, _))) = (self.json.get(&ok), self.json.get(&nk)) {
                    self.report.compatibility_pairs += 1;
                    for change in compat::json_schema_changes(o, n, old, new) {
                        let msg = format!("incompatible with v{old}: {change}");
                        problem(
                            &mut self.problems,
                            Some(m),
                            Some(new),
                            Some(m.file(new, Encoding::Json)),
                            msg,
                        );
                    }
                }
                if let (Some(o), Some(n)) = (self.avro.get(&ok), self.avro.get(&nk)) {
                    self.report.compatibility_pairs += 1;
                    let mut msgs = Vec::new();
                    if let Some(why) = incompatibility(o, n) {
                        msgs.push(format!("incompatible with v{old} (backward): v{new} readers cannot read data written with v{old}: {why}"));
                    }
                    if let Some(why) = incompatibility(n, o) {
                        msgs.push(format!("incompatible with v{old} (forward): v{old} readers cannot read data written with v{new}: {why}"));
                    }
                    for msg in msgs {
                        problem(
                            &mut self.problems,
                            Some(m),
                            Some(new),
                            Some(m.file(new, Encoding::Avro)),
                            msg,
                        );
                    }
                }
            }
        }
    }
}

/// Why a reader with schema `reader` cannot always read data written with `writer`, if it cannot.
fn incompatibility(writer: &Schema, reader: &Schema) -> Option<String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => None,
        Ok(Compatibility::Partial) => Some("only some values resolve (an enum symbol or union branch is missing on the reader's side)".into()),
        Err(e) => Some(e.to_string()),
    }
}

/// Every `*.schema.json` and `*.avsc` directly in `dir` or one folder down, relative to `dir`.
fn schema_files(dir: &Path) -> BTreeSet<PathBuf> {
    let is_schema = |p: &Path| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.ends_with(".schema.json") || name.ends_with(".avsc")
    };
    let mut files = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            let Ok(inner) = std::fs::read_dir(&path) else {
                continue;
            };
            for file in inner
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_schema(p))
            {
                files.insert(file.strip_prefix(dir).unwrap_or(&file).to_path_buf());
            }
        } else if is_schema(&path) {
            files.insert(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
        }
    }
    files
}

/// `vehicle/position` of `vehicle/position.v3.avsc`.
fn stem_of(file: &Path) -> PathBuf {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base = name.split(".v").next().unwrap_or(name);
    file.with_file_name(base)
}

fn owner_stem(m: &MessageSpec) -> PathBuf {
    let (domain, name) = m.domain_and_name();
    Path::new(domain).join(name)
}

/// Objects must stay open so old readers accept new optional properties.
fn closed_objects(schema: &Value, path: &str, issues: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for key in ["additionalProperties", "unevaluatedProperties"] {
                if map.get(key) == Some(&Value::Bool(false)) {
                    let at = if path.is_empty() {
                        "the top level".to_owned()
                    } else {
                        format!("`{path}`")
                    };
                    issues.push(format!("`{key}: false` at {at}: objects must stay open, so older readers accept newer optional properties"));
                }
            }
            for (k, v) in map {
                closed_objects(v, &format!("{path}/{k}"), issues);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                closed_objects(v, &format!("{path}/{i}"), issues);
            }
        }
        _ => {}
    }
}

/// Where an Avro record and the JSON Schema of the same version disagree: the same field names,
/// and a field is optional (a union with null) exactly when the JSON property is not required.
fn avro_json_differences(avro: &Schema, json: &Value) -> Vec<String> {
    let Schema::Record(record) = avro else {
        return Vec::new();
    };
    let properties: BTreeSet<&str> = json["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let required: BTreeSet<&str> = json["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut fields = BTreeSet::new();
    for field in &record.fields {
        fields.insert(field.name.as_str());
        let optional = matches!(&field.schema, Schema::Union(u) if u.variants().iter().any(|s| matches!(s, Schema::Null)));
        if !properties.contains(field.name.as_str()) {
            out.push(format!(
                "Avro field `{}` is not a property of the JSON Schema",
                field.name
            ));
        } else if optional == required.contains(field.name.as_str()) {
            let (a, j) = if optional {
                ("optional", "required")
            } else {
                ("required", "optional")
            };
            out.push(format!(
                "field `{}` is {a} in Avro but {j} in the JSON Schema",
                field.name
            ));
        }
    }
    for p in properties.difference(&fields) {
        out.push(format!("JSON property `{p}` has no Avro field"));
    }
    out
}
