//! The AsyncAPI document: complete for the catalog, every channel bound to the right exchange,
//! every reference resolvable, and the committed `schemas/asyncapi.json` up to date.

use std::fs;
use std::path::{Path, PathBuf};

use instadash_schemas::asyncapi::{self, channel_key, message_key, operation_keys};
use instadash_schemas::{Catalog, Encoding, Kind, MessageSpec, avro_fingerprint, dataschema};
use serde_json::Value;

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generated() -> (Catalog, String, Value) {
    let catalog = Catalog::load(&shipped()).unwrap();
    let text = asyncapi::generate(&shipped()).unwrap();
    let doc = serde_json::from_str(&text).unwrap();
    (catalog, text, doc)
}

/// A copy of the schema directory, to change.
fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    Catalog::copy_dir(&shipped(), tmp.path()).unwrap();
    tmp
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer}"))
}

/// `pointer` with `~` and `/` escaped, for keys such as message keys.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn refs<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) => found.push((at.clone(), target)),
                    _ => refs(child, format!("{at}/{}", escape(key)), found),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                refs(item, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn the_committed_document_is_up_to_date() {
    let (_, text, _) = generated();
    let committed = fs::read_to_string(shipped().join(asyncapi::FILE))
        .expect("schemas/asyncapi.json exists: run `cargo run -p instadash -- schema asyncapi`");
    assert!(
        committed == text,
        "schemas/asyncapi.json is stale: run `cargo run -p instadash -- schema asyncapi` \
         (`instadash schema asyncapi`)"
    );
}

#[test]
fn the_header_is_asyncapi_3_over_amqp() {
    let (_, _, doc) = generated();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["info"]["title"], "Instadash");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(str_at(&doc, "/info/description").contains("CloudEvents 1.0, binary content mode"));
    let server = &doc["servers"]["amqp"];
    assert_eq!(server["host"], "127.0.0.1:5672");
    assert_eq!(server["protocol"], "amqp");
    assert_eq!(server["protocolVersion"], "0.9.1");
}

#[test]
fn every_type_and_version_has_its_messages() {
    let (catalog, _, doc) = generated();
    let messages = doc["components"]["messages"].as_object().unwrap();
    let mut expected = 0;
    for spec in &catalog.messages {
        for &version in &spec.versions {
            for &encoding in &spec.encodings {
                expected += 1;
                let key = message_key(spec, version, encoding);
                let m = messages
                    .get(&key)
                    .unwrap_or_else(|| panic!("no message {key}"));
                assert_eq!(m["name"], key.as_str());
                assert_eq!(m["summary"], spec.summary.as_str());
                assert_eq!(m["contentType"], encoding.content_type(), "{key}");
                let headers = &m["headers"]["properties"];
                assert_eq!(headers["cloudEvents_type"]["const"], spec.type_.as_str());
                assert_eq!(
                    headers["cloudEvents_dataschema"]["const"],
                    dataschema(&spec.type_, version).as_str()
                );
                assert_eq!(headers["cloudEvents_specversion"]["const"], "1.0");
                for name in [
                    "cloudEvents_id",
                    "cloudEvents_source",
                    "cloudEvents_time",
                    "traceparent",
                ] {
                    assert!(headers.get(name).is_some(), "{key}: no header {name}");
                }
                let required: Vec<&str> = m["headers"]["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(
                    required.contains(&"cloudEvents_subject"),
                    spec.subject.is_some(),
                    "{key}"
                );
                assert_eq!(m["bindings"]["amqp"]["messageType"], spec.type_.as_str());
                assert_eq!(m["bindings"]["amqp"]["bindingVersion"], "0.3.0");

                let payload = &m["payload"];
                let file = shipped().join(spec.file(version, encoding));
                let on_disk: Value =
                    serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
                match encoding {
                    Encoding::Avro => {
                        assert_eq!(
                            payload["schemaFormat"],
                            "application/vnd.apache.avro+json;version=1.9.0"
                        );
                        assert_eq!(payload["schema"], on_disk, "{key}: the .avsc inline");
                        let schema = apache_avro_schema(&file);
                        assert_eq!(
                            headers["x-instadash-avro-fingerprint"]["const"],
                            avro_fingerprint(&schema).as_str()
                        );
                        assert!(required.contains(&"x-instadash-avro-fingerprint"));
                    }
                    Encoding::Json => {
                        assert_eq!(
                            payload["schemaFormat"],
                            "application/schema+json;version=draft-07"
                        );
                        let schema = &payload["schema"];
                        assert_eq!(schema["$schema"], on_disk["$schema"]);
                        assert_eq!(schema["title"], on_disk["title"]);
                        assert_eq!(schema["required"], on_disk["required"]);
                        assert_eq!(
                            schema["properties"].as_object().unwrap().len(),
                            on_disk["properties"].as_object().unwrap().len(),
                            "{key}"
                        );
                        assert!(headers.get("x-instadash-avro-fingerprint").is_none());
                    }
                }
            }
        }
    }
    assert_eq!(messages.len(), expected, "no message outside the catalog");
}

fn apache_avro_schema(file: &Path) -> apache_avro::Schema {
    apache_avro::Schema::parse_str(&fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn the_fingerprints_are_those_of_the_readme() {
    let (_, _, doc) = generated();
    for (key, fingerprint) in [
        ("instadash.vehicle.position.v1", "99f9ae200a38d087"),
        ("instadash.vehicle.position.v2", "2c5420bad6b57d72"),
    ] {
        assert_eq!(
            doc["components"]["messages"][key]["headers"]["properties"]["x-instadash-avro-fingerprint"]
                ["const"],
            fingerprint
        );
    }
}

#[test]
fn every_channel_is_bound_to_its_exchange() {
    let (catalog, _, doc) = generated();
    let channels = doc["channels"].as_object().unwrap();
    for spec in &catalog.messages {
        let key = channel_key(spec);
        let channel = channels
            .get(&key)
            .unwrap_or_else(|| panic!("{}: no channel {key}", spec.type_));
        let amqp = &channel["bindings"]["amqp"];
        assert_eq!(amqp["is"], "routingKey", "{key}");
        assert_eq!(amqp["bindingVersion"], "0.3.0", "{key}");
        assert_eq!(amqp["exchange"]["name"], spec.exchange.as_str(), "{key}");
        assert_eq!(amqp["exchange"]["name"], spec.kind.exchange(), "{key}");
        let exchange_type = match spec.kind {
            Kind::Event => "topic",
            Kind::Command | Kind::Request | Kind::Job => "direct",
            Kind::Reply => "default",
        };
        assert_eq!(amqp["exchange"]["type"], exchange_type, "{key}");
        assert_eq!(amqp["exchange"]["durable"], true, "{key}");
        match spec.kind {
            Kind::Reply => assert!(channel["address"].is_null(), "{key}"),
            _ => assert_eq!(channel["address"], spec.routing_key.as_str(), "{key}"),
        }
        for &version in &spec.versions {
            for &encoding in &spec.encodings {
                let message = message_key(spec, version, encoding);
                assert_eq!(
                    channel["messages"][&message]["$ref"],
                    format!("#/components/messages/{message}").as_str(),
                    "{key} lacks {message}"
                );
            }
        }
    }
    // Every channel is used, its address parameters are exactly the `{...}` in its address, and
    // every binding names an exchange the catalog routes to.
    let exchanges = [
        "instadash.events",
        "instadash.services",
        "instadash.work",
        "",
    ];
    for (key, channel) in channels {
        assert!(
            catalog.messages.iter().any(|m| channel_key(m) == *key),
            "channel {key} carries no catalog type"
        );
        assert!(exchanges.contains(&str_at(channel, "/bindings/amqp/exchange/name")));
        let address = channel["address"].as_str().unwrap_or_default();
        let mut in_address: Vec<&str> = address
            .split('{')
            .skip(1)
            .map(|rest| rest.split('}').next().unwrap())
            .collect();
        in_address.sort_unstable();
        let mut declared: Vec<&str> = channel["parameters"]
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        declared.sort_unstable();
        assert_eq!(in_address, declared, "{key}: parameters");
    }
}

#[test]
fn producers_send_and_consumers_receive() {
    let (catalog, _, doc) = generated();
    let operations = doc["operations"].as_object().unwrap();
    let mut expected = 0;
    for spec in &catalog.messages {
        let Some((send, receive)) = operation_keys(spec) else {
            assert_eq!(spec.kind, Kind::Reply);
            continue;
        };
        expected += 2;
        let channel = format!("#/channels/{}", channel_key(spec));
        for (key, action, role, services) in [
            (&send, "send", "x-producers", &spec.producers),
            (&receive, "receive", "x-consumers", &spec.consumers),
        ] {
            let op = operations
                .get(key)
                .unwrap_or_else(|| panic!("no operation {key}"));
            assert_eq!(op["action"], action);
            assert_eq!(op["channel"]["$ref"], channel.as_str(), "{key}");
            assert_eq!(op[role], serde_json::json!(services), "{key}");
            let messages: Vec<&str> = op["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["$ref"].as_str().unwrap())
                .collect();
            assert_eq!(messages.len(), spec.versions.len() * spec.encodings.len());
            assert!(
                messages
                    .iter()
                    .all(|m| m.starts_with(&format!("{channel}/messages/")))
            );
            assert_eq!(op["bindings"]["amqp"]["bindingVersion"], "0.3.0");
            match &spec.reply {
                Some(reply_type) => {
                    let reply: &MessageSpec = catalog.get(reply_type).unwrap();
                    assert_eq!(op["reply"]["channel"]["$ref"], "#/channels/direct-reply-to");
                    assert_eq!(
                        op["reply"]["address"]["location"],
                        "$message.header#/reply_to"
                    );
                    assert_eq!(
                        op["reply"]["messages"][0]["$ref"],
                        format!(
                            "#/channels/direct-reply-to/messages/{}",
                            message_key(reply, 1, reply.default_encoding())
                        )
                        .as_str()
                    );
                }
                None => assert!(op.get("reply").is_none(), "{key}"),
            }
        }
    }
    assert_eq!(operations.len(), expected);
}

#[test]
fn every_reference_resolves_inside_the_document() {
    let (_, _, doc) = generated();
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(found.len() > 100, "{} refs", found.len());
    for (at, target) in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: `$ref` {target} leaves the document"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: `$ref` {target} resolves to nothing"
        );
    }
    // Inlined JSON Schemas point into themselves, not at a `$defs` of the document root.
    let raised = &doc["components"]["messages"]["instadash.alert.raised.v1"]["payload"]["schema"];
    assert_eq!(
        raised["properties"]["severity"]["$ref"],
        "#/components/messages/instadash.alert.raised.v1/payload/schema/$defs/Severity"
    );
    assert!(raised.get("$id").is_none());
}

#[test]
fn the_document_is_read_from_the_directory_given() {
    let (_, text, _) = generated();
    let dir = copy();
    assert_eq!(
        asyncapi::generate(dir.path()).unwrap(),
        text,
        "same files, same bytes"
    );

    let catalog = dir.path().join("catalog.toml");
    let edited = fs::read_to_string(&catalog)
        .unwrap()
        .replace("A GPS fix from a vehicle", "A GNSS fix from a vehicle");
    fs::write(&catalog, edited).unwrap();
    let changed = asyncapi::generate(dir.path()).unwrap();
    assert_ne!(changed, text);
    assert!(changed.contains("A GNSS fix from a vehicle"));

    fs::remove_file(dir.path().join("vehicle/position.v2.avsc")).unwrap();
    let err = asyncapi::generate(dir.path()).unwrap_err().to_string();
    assert!(err.contains("position.v2.avsc"), "{err}");
}
