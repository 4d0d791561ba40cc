//! JSON Schema compatibility between consecutive versions of a type.
//!
//! Versions must be compatible both ways, like the Avro check: a new reader must accept what an
//! old writer wrote (backward) and an old reader must accept what a new writer writes (forward).
//! With open objects (no `additionalProperties: false`) that leaves one kind of change: adding an
//! optional property. Everything else that constrains instances must stay as it was; annotations
//! (`title`, `description`, `examples`, ...) may change freely. The rules are listed in README.md.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Keywords that only annotate: changing them changes no instance's validity.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentEncoding",
    "contentMediaType",
];
/// Lower bounds: raising one rejects old data, lowering one lets new data past old readers.
const LOWER_BOUNDS: &[&str] = &[
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
];
const UPPER_BOUNDS: &[&str] = &[
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
];
/// Keywords holding one subschema; absent means `true` (anything).
const SUBSCHEMAS: &[&str] = &[
    "items",
    "additionalProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
];
/// Keywords holding a list of subschemas, compared position by position.
const SUBSCHEMA_LISTS: &[&str] = &["anyOf", "oneOf", "allOf", "prefixItems"];
/// Keywords holding a map of named subschemas; a new name is fine, a removed one is not.
const SUBSCHEMA_MAPS: &[&str] = &[
    "properties",
    "$defs",
    "patternProperties",
    "dependentSchemas",
];

/// The incompatible changes from `old` (version `old_v`) to `new` (version `new_v`), in words.
pub(crate) fn json_schema_changes(old: &Value, new: &Value, old_v: u32, new_v: u32) -> Vec<String> {
    let mut diff = Diff {
        old_v,
        new_v,
        changes: Vec::new(),
    };
    diff.schema(old, new, "");
    diff.changes
}

struct Diff {
    old_v: u32,
    new_v: u32,
    changes: Vec<String>,
}

/// Where in the instance a subschema applies, for messages: `the top level`, `` `details.lat` ``.
fn place(path: &str) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        format!("`{path}`")
    }
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() {
        part.to_owned()
    } else {
        format!("{path}.{part}")
    }
}

fn types(v: Option<&Value>) -> BTreeSet<String> {
    match v {
        Some(Value::String(s)) => [s.clone()].into(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Whether type set `a` accepts every instance type set `b` accepts (empty: any type).
/// `integer` is a subset of `number`.
fn covers(a: &BTreeSet<String>, b: &BTreeSet<String>) -> bool {
    if a.is_empty() {
        return true;
    }
    !b.is_empty()
        && b.iter()
            .all(|t| a.contains(t) || (t == "integer" && a.contains("number")))
}

fn show(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "any".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(" or ")
    }
}

impl Diff {
    fn push(&mut self, message: String) {
        self.changes.push(message);
    }

    /// What breaks when data written by the old version is read by the new one.
    fn backward(&self) -> String {
        format!(
            "data written with v{} would be rejected by v{} readers",
            self.old_v, self.new_v
        )
    }

    fn forward(&self) -> String {
        format!(
            "data written with v{} would be rejected by v{} readers",
            self.new_v, self.old_v
        )
    }

    fn schema(&mut self, old: &Value, new: &Value, path: &str) {
        let (Value::Object(o), Value::Object(n)) = (old, new) else {
            if old != new {
                let why = format!("{} or {}", self.backward(), self.forward());
                self.push(format!(
                    "the schema of {} changed from {old} to {new}: {why}",
                    place(path)
                ));
            }
            return;
        };
        let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for key in keys {
            let (ov, nv) = (o.get(key.as_str()), n.get(key.as_str()));
            if ov == nv || ANNOTATIONS.contains(&key.as_str()) {
                continue;
            }
            match key.as_str() {
                "type" => self.types(ov, nv, path),
                "required" => self.required(ov, nv, path),
                "enum" => self.enumeration(ov, nv, path),
                k if LOWER_BOUNDS.contains(&k) => self.bound(k, ov, nv, path, true),
                k if UPPER_BOUNDS.contains(&k) => self.bound(k, ov, nv, path, false),
                k if SUBSCHEMAS.contains(&k) => {
                    let sub = match k {
                        "items" => format!("{path}[]"),
                        "additionalProperties" | "unevaluatedProperties" => join(path, "*"),
                        _ => format!("{path} ({k})"),
                    };
                    self.schema(
                        ov.unwrap_or(&Value::Bool(true)),
                        nv.unwrap_or(&Value::Bool(true)),
                        &sub,
                    );
                }
                k if SUBSCHEMA_LISTS.contains(&k) => self.list(k, ov, nv, path),
                k if SUBSCHEMA_MAPS.contains(&k) => self.map(k, ov, nv, path),
                k => {
                    let show = |v: Option<&Value>| v.map_or("absent".to_owned(), Value::to_string);
                    let why = format!("{} or {}", self.backward(), self.forward());
                    self.push(format!(
                        "`{k}` of {} changed from {} to {}: {why}",
                        place(path),
                        show(ov),
                        show(nv)
                    ));
                }
            }
        }
    }

    fn types(&mut self, old: Option<&Value>, new: Option<&Value>, path: &str) {
        let (o, n) = (types(old), types(new));
        let (narrowed, widened) = (!covers(&n, &o), !covers(&o, &n));
        let mut why = Vec::new();
        if narrowed {
            why.push(format!("narrowed, so {}", self.backward()));
        }
        if widened {
            why.push(format!("widened, so {}", self.forward()));
        }
        self.push(format!(
            "the type of {} changed from {} to {}: {}",
            place(path),
            show(&o),
            show(&n),
            why.join("; ")
        ));
    }

    fn required(&mut self, old: Option<&Value>, new: Option<&Value>, path: &str) {
        let (o, n) = (types(old), types(new));
        for p in n.difference(&o) {
            let msg = format!(
                "new required property `{p}` at {}: data written with v{} lacks it, so v{} readers would reject it (add it as optional instead)",
                place(path),
                self.old_v,
                self.new_v
            );
            self.push(msg);
        }
        for p in o.difference(&n) {
            let msg = format!(
                "property `{p}` at {} is no longer required: v{} writers may leave it out, but v{} readers require it",
                place(path),
                self.new_v,
                self.old_v
            );
            self.push(msg);
        }
    }

    fn enumeration(&mut self, old: Option<&Value>, new: Option<&Value>, path: &str) {
        let values = |v: Option<&Value>| v.and_then(Value::as_array).cloned();
        match (values(old), values(new)) {
            (Some(o), Some(n)) => {
                for v in o.iter().filter(|v| !n.contains(v)) {
                    let msg = format!(
                        "enum value {v} of {} was removed: {}",
                        place(path),
                        self.backward()
                    );
                    self.push(msg);
                }
                for v in n.iter().filter(|v| !o.contains(v)) {
                    let msg = format!(
                        "enum value {v} of {} was added: {}",
                        place(path),
                        self.forward()
                    );
                    self.push(msg);
                }
            }
            (None, Some(_)) => {
                let msg = format!(
                    "{} is now restricted to an enum: {}",
                    place(path),
                    self.backward()
                );
                self.push(msg);
            }
            _ => {
                let msg = format!(
                    "{} is no longer restricted to an enum: {}",
                    place(path),
                    self.forward()
                );
                self.push(msg);
            }
        }
    }

    fn bound(
        &mut self,
        key: &str,
        old: Option<&Value>,
        new: Option<&Value>,
        path: &str,
        lower: bool,
    ) {
        let num = |v: Option<&Value>| v.and_then(Value::as_f64);
        let show = |v: Option<&Value>| v.map_or("none".to_owned(), Value::to_string);
        let tightened = match (num(old), num(new)) {
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(o), Some(n)) => (n > o) == lower,
            (None, None) => return,
        };
        let (how, why) = if tightened {
            ("tightened", self.backward())
        } else {
            ("loosened", self.forward())
        };
        self.push(format!(
            "`{key}` of {} {how} from {} to {}: {why}",
            place(path),
            show(old),
            show(new)
        ));
    }

    fn list(&mut self, key: &str, old: Option<&Value>, new: Option<&Value>, path: &str) {
        let empty = Vec::new();
        let (o, n) = (
            old.and_then(Value::as_array).unwrap_or(&empty),
            new.and_then(Value::as_array).unwrap_or(&empty),
        );
        if o.len() != n.len() {
            let why = format!("{} or {}", self.backward(), self.forward());
            self.push(format!(
                "`{key}` of {} changed from {} to {} branches: {why}",
                place(path),
                o.len(),
                n.len()
            ));
            return;
        }
        for (i, (a, b)) in o.iter().zip(n).enumerate() {
            self.schema(a, b, &format!("{path} ({key} #{})", i + 1));
        }
    }

    fn map(&mut self, key: &str, old: Option<&Value>, new: Option<&Value>, path: &str) {
        let empty = Map::new();
        let (o, n) = (
            old.and_then(Value::as_object).unwrap_or(&empty),
            new.and_then(Value::as_object).unwrap_or(&empty),
        );
        for (name, old_sub) in o {
            let sub = match key {
                "properties" => join(path, name),
                "$defs" => format!("$defs/{name}"),
                _ => format!("{path} ({key} {name})"),
            };
            match n.get(name) {
                Some(new_sub) => self.schema(old_sub, new_sub, &sub),
                None if key == "properties" => {
                    let msg = format!(
                        "property {} was removed: v{} readers may rely on it (keep it, documented as deprecated)",
                        place(&sub),
                        self.old_v
                    );
                    self.push(msg);
                }
                None => {
                    let msg = format!("`{key}` entry `{name}` of {} was removed", place(path));
                    self.push(msg);
                }
            }
        }
        // Names only in `new` are new optional properties or definitions: fine (a new *required*
        // property is reported by `required`).
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::json_schema_changes;

    fn changes(old: serde_json::Value, new: serde_json::Value) -> Vec<String> {
        json_schema_changes(&old, &new, 1, 2)
    }

    #[test]
    fn a_new_optional_property_and_new_words_are_fine() {
        let old =
            json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}});
        let new = json!({"type": "object", "description": "now documented", "required": ["a"],
            "properties": {"a": {"type": "string", "title": "A"}, "b": {"type": ["number", "null"]}}});
        assert_eq!(changes(old, new), Vec::<String>::new());
    }

    #[test]
    fn every_constraint_change_is_reported() {
        let old = json!({"type": "object", "required": ["a"], "properties": {
            "a": {"type": "integer", "minimum": 0},
            "b": {"type": "string", "enum": ["x", "y"]},
            "c": {"type": "array", "items": {"type": "string", "pattern": "^P"}},
            "d": {"type": "number"}}});
        let new = json!({"type": "object", "required": ["a", "e"], "additionalProperties": false, "properties": {
            "a": {"type": "number", "minimum": 1},
            "b": {"type": "string", "enum": ["x", "z"]},
            "c": {"type": "array", "items": {"type": "string", "pattern": "^B"}},
            "e": {"type": "string"}}});
        let found = changes(old, new).join("\n");
        for expected in [
            "new required property `e` at the top level: data written with v1 lacks it",
            "the type of `a` changed from integer to number: widened, so data written with v2 would be rejected by v1 readers",
            "`minimum` of `a` tightened from 0 to 1: data written with v1 would be rejected by v2 readers",
            "enum value \"y\" of `b` was removed",
            "enum value \"z\" of `b` was added",
            "`pattern` of `c[]` changed from \"^P\" to \"^B\"",
            "property `d` was removed",
            "the schema of `*` changed from true to false",
        ] {
            assert!(
                found.contains(expected),
                "missing `{expected}` in:\n{found}"
            );
        }
    }

    #[test]
    fn narrowing_a_type_is_reported() {
        let found = changes(
            json!({"type": ["number", "null"]}),
            json!({"type": "number"}),
        )
        .join("\n");
        assert!(
            found.contains("changed from null or number to number: narrowed"),
            "{found}"
        );
    }
}
