//! JSON values as block-style YAML, for Kubernetes manifests a person reads. Strings are written
//! JSON-quoted, which YAML reads as the same string, so no escaping rule of YAML's own is needed.

use serde_json::Value;

/// `documents` as one multi-document YAML stream.
pub fn documents(documents: &[Value]) -> String {
    let mut out = String::new();
    for document in documents {
        out.push_str("---\n");
        block(document, 0, &mut out);
    }
    out
}

fn block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                out.push_str(&format!("{pad}{}:", key_text(key)));
                nested(value, indent + 2, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                match item {
                    // An object's first key goes on the dash's line, the rest under it.
                    Value::Object(map) if !map.is_empty() => {
                        let mut inner = String::new();
                        block(item, indent + 2, &mut inner);
                        out.push(' ');
                        out.push_str(&inner[indent + 2..]);
                    }
                    _ => nested(item, indent + 2, out),
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&scalar.to_string());
            out.push('\n');
        }
    }
}

/// A value after `key:` or `-`: on the same line if it is a scalar or empty, below otherwise.
fn nested(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            block(value, indent, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            block(value, indent, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar.to_string());
            out.push('\n');
        }
    }
}

fn key_text(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if plain {
        key.to_owned()
    } else {
        Value::from(key).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_maps_and_lists() {
        // Keys in order, whether serde_json keeps insertion order or sorts.
        let doc = json!({
            "items": [{"name": "x", "value": "1"}, "plain"],
            "kind": "Queue",
            "spec": {"arguments": {"x-delivery-limit": 5}, "empty": {}, "tags": ["a", "b"]},
        });
        assert_eq!(
            documents(&[doc]),
            "---\nitems:\n  - name: \"x\"\n    value: \"1\"\n  - \"plain\"\nkind: \"Queue\"\nspec:\n  \
             arguments:\n    x-delivery-limit: 5\n  empty: {}\n  tags:\n    - \"a\"\n    - \"b\"\n"
        );
    }
}
