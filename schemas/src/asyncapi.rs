//! An [AsyncAPI 3.0](https://www.asyncapi.com/docs/reference/specification/v3.0.0) description of
//! the bus, generated from a schema directory: `catalog.toml` and the schema files under it.
//!
//! The output is deterministic (fixed key order, the catalog's order for types, channels and
//! operations, the schema files' own key order inside payloads), so the committed
//! `schemas/asyncapi.json` can be compared byte for byte with a fresh one:
//! `instadash schema asyncapi --check`, and this crate's tests.
//!
//! Layout of the document:
//! - `servers.amqp`: the local RabbitMQ (AMQP 0-9-1).
//! - `channels`: one per exchange and routing pattern, each with an AMQP `routingKey` binding:
//!   an event type on `instadash.events` (address `<type>.{<subject>}`), a service inbox on
//!   `instadash.services` (address = the service, `{service}` for requests any service answers),
//!   a work queue on `instadash.work`, and `direct-reply-to` (the default exchange) for replies.
//! - `operations`: `<type>.send` for the producers and `<type>.receive` for the consumers of each
//!   event, command, request and job (`x-producers` / `x-consumers` list the catalog's services);
//!   requests carry their `reply` (direct reply-to, address from the request's `reply_to`).
//! - `components.messages`: one message per type and version, key `<type>.v<N>`, in the wire
//!   default encoding; types whose default is Avro also have `<type>.v<N>.json`, their JSON form.
//!   Each has the CloudEvents headers as a JSON Schema (`cloudEvents_type` and
//!   `cloudEvents_dataschema` as constants), an AMQP message binding, and its payload schema
//!   inline: the `.avsc` as Avro, the JSON Schema as JSON Schema.
//!
//! Inlined JSON Schemas keep their content, with one change the AsyncAPI parser needs: their
//! local `$ref`s (`#/$defs/...`) would resolve against the AsyncAPI document, so they are rewritten
//! to point at the same place inside the message (`#/components/messages/<key>/payload/schema/...`),
//! and `$id` is dropped, because under it those pointers would resolve against the schema again.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::catalog::{
    ANY_SERVICE_KEY, Catalog, CatalogError, DEFAULT_EXCHANGE, EVENTS_EXCHANGE, EVERY_SERVICE, Kind,
    MessageSpec, SERVICES_EXCHANGE, WORK_EXCHANGE,
};
use crate::{AVRO_FINGERPRINT_HEADER, Encoding, avro_fingerprint, dataschema};

/// The generated document's file name in the schema directory.
pub const FILE: &str = "asyncapi.json";
pub const ASYNCAPI_VERSION: &str = "3.0.0";
/// The version of the AMQP bindings used on channels, operations and messages.
pub const AMQP_BINDING_VERSION: &str = "0.3.0";
/// The schema format of JSON payloads. AsyncAPI 3.0 names no JSON Schema dialect newer than
/// draft-07; the schemas are draft 2020-12 (their `$schema` says so) and use only keywords that
/// mean the same in both.
pub const JSON_SCHEMA_FORMAT: &str = "application/schema+json;version=draft-07";
pub const AVRO_SCHEMA_FORMAT: &str = "application/vnd.apache.avro+json;version=1.9.0";
/// The one server entry.
pub const SERVER: &str = "amqp";
/// The channel every reply travels on.
pub const REPLY_CHANNEL: &str = "direct-reply-to";

/// Why the document could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum AsyncApiError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Schema { path: PathBuf, message: String },
}

/// The AsyncAPI document (pretty-printed JSON, with a final newline) for the schema directory
/// `dir`: its `catalog.toml` and schema files.
pub fn generate(dir: &Path) -> Result<String, AsyncApiError> {
    let catalog = Catalog::load(dir)?;
    document(&catalog, dir)
}

/// The AsyncAPI document for `catalog`, with the schema files read from `dir`.
pub fn document(catalog: &Catalog, dir: &Path) -> Result<String, AsyncApiError> {
    let doc = build(catalog, dir)?;
    let mut text = serde_json::to_string_pretty(&doc).expect("a JSON tree always serializes");
    text.push('\n');
    Ok(text)
}

/// The key of a message in `components.messages` (and in its channel's `messages`):
/// `<type>.v<N>` for the wire default encoding, `<type>.v<N>.<encoding>` for another one.
pub fn message_key(spec: &MessageSpec, version: u32, encoding: Encoding) -> String {
    if encoding == spec.default_encoding() {
        format!("{}.v{version}", spec.type_)
    } else {
        format!("{}.v{version}.{}", spec.type_, encoding.name())
    }
}

/// The key in `channels` of the channel a message type travels on.
pub fn channel_key(spec: &MessageSpec) -> String {
    match spec.kind {
        Kind::Event => spec.type_.clone(),
        Kind::Command | Kind::Request if spec.routing_key == ANY_SERVICE_KEY => {
            "instadash.service.any".to_owned()
        }
        Kind::Command | Kind::Request => format!("instadash.service.{}", spec.routing_key),
        Kind::Job => format!("instadash.work.{}", spec.routing_key),
        Kind::Reply => REPLY_CHANNEL.to_owned(),
    }
}

/// The operation keys of a type: `(send, receive)`; replies have none of their own (they are
/// the `reply` of their request's operations).
pub fn operation_keys(spec: &MessageSpec) -> Option<(String, String)> {
    (spec.kind != Kind::Reply).then(|| {
        (
            format!("{}.send", spec.type_),
            format!("{}.receive", spec.type_),
        )
    })
}

// ---- the document ------------------------------------------------------------------------------

fn build(catalog: &Catalog, dir: &Path) -> Result<Node, AsyncApiError> {
    // Channels in the order their first type appears in the catalog.
    let mut channels: Vec<(String, Vec<&MessageSpec>)> = Vec::new();
    for spec in &catalog.messages {
        let key = channel_key(spec);
        match channels.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(spec),
            None => channels.push((key, vec![spec])),
        }
    }

    let mut channels_node = Obj::new();
    for (key, members) in &channels {
        channels_node.push(key, channel(catalog, key, members));
    }

    let mut operations = Obj::new();
    for spec in &catalog.messages {
        if let Some((send, receive)) = operation_keys(spec) {
            operations.push(&send, operation(catalog, spec, Action::Send));
            operations.push(&receive, operation(catalog, spec, Action::Receive));
        }
    }

    let mut messages = Obj::new();
    for spec in &catalog.messages {
        for &version in &spec.versions {
            for &encoding in &spec.encodings {
                let key = message_key(spec, version, encoding);
                let node = message(spec, version, encoding, &key, dir)?;
                messages.push(&key, node);
            }
        }
    }

    Ok(Obj::new()
        .set("asyncapi", ASYNCAPI_VERSION)
        .set("info", info())
        .set("defaultContentType", Encoding::Json.content_type())
        .set(
            "servers",
            Obj::new().set(
                SERVER,
                Obj::new()
                    .set("host", "127.0.0.1:5672")
                    .set("protocol", "amqp")
                    .set("protocolVersion", "0.9.1")
                    .set("title", "RabbitMQ")
                    .set(
                        "description",
                        "The RabbitMQ broker every service connects to (development: on the same \
                         machine, virtual host `/`). Exchanges are declared durable by every \
                         service at start-up.",
                    ),
            ),
        )
        .set("channels", channels_node)
        .set("operations", operations)
        .set("components", Obj::new().set("messages", messages))
        .into())
}

fn info() -> Obj {
    let description = "\
Every message between Instadash services on RabbitMQ. Generated from `schemas/catalog.toml` and \
the schema files by `instadash schema asyncapi`: do not edit by hand.

**Envelope: CloudEvents 1.0, binary content mode, over AMQP 0-9-1.** The payload is the AMQP \
body; the CloudEvents attributes are AMQP headers with the prefix `cloudEvents_` \
(`cloudEvents_specversion`, `cloudEvents_id`, `cloudEvents_source`, `cloudEvents_type`, \
`cloudEvents_subject`, `cloudEvents_time`, `cloudEvents_dataschema`), and `datacontenttype` is \
the AMQP `content_type` property. This is the AMQP binding of the official CloudEvents SDKs, so \
their clients work unchanged. Readers also accept the `cloudEvents:` prefix, `time` as integer \
milliseconds since the epoch, and structured mode (`application/cloudevents+json`).

- **Versions:** a type carries no version; the version travels in `cloudEvents_dataschema` as \
`urn:instadash:schema:<type>:v<N>`. Each message here is one version of one type \
(`<type>.v<N>`) in its wire default encoding; Avro types also have their JSON form \
(`<type>.v<N>.json`). A subscriber receives every version of a type on the same channel.
- **AMQP properties:** `message_id` = the event id (consumers drop duplicates by it), `app_id` = \
the sending service, `timestamp` (seconds), `delivery_mode` 2 (persistent; 1 for requests, which \
expire), `correlation_id`, and `reply_to` for requests.
- **Payloads:** `application/json`, valid against the version's JSON Schema (draft 2020-12), or \
`application/avro`: the Avro binary datum (no container, no single-object marker), its writer \
schema named by the header `x-instadash-avro-fingerprint` (the Rabin fingerprint of the schema's \
Parsing Canonical Form, 8 bytes little-endian as 16 hex digits).
- **Trace context:** W3C `traceparent` / `tracestate` headers.
- **Roles:** `x-producers` / `x-consumers` on the operations name the services of the catalog; \
`*` means every service.
- Messages that fail validation, cannot be decoded or exhaust their retries are dead-lettered \
with the reason in `x-instadash-*` headers, never dropped.";
    Obj::new()
        .set("title", "Instadash")
        .set("version", env!("CARGO_PKG_VERSION"))
        .set("description", description)
        .set(
            "license",
            Obj::new()
                .set("name", "Apache-2.0")
                .set("url", "https://www.apache.org/licenses/LICENSE-2.0"),
        )
}

// ---- channels ----------------------------------------------------------------------------------

/// The exchange name and AMQP exchange type of a kind of message.
fn exchange(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Event => (EVENTS_EXCHANGE, "topic"),
        Kind::Command | Kind::Request => (SERVICES_EXCHANGE, "direct"),
        Kind::Job => (WORK_EXCHANGE, "direct"),
        Kind::Reply => (DEFAULT_EXCHANGE, "default"),
    }
}

fn channel(catalog: &Catalog, key: &str, members: &[&MessageSpec]) -> Obj {
    let first = members[0];
    let (exchange_name, exchange_type) = exchange(first.kind);
    let mut node = Obj::new();
    let mut parameters = Obj::new();
    match first.kind {
        Kind::Event => {
            let subject = match &first.subject {
                Some(property) => {
                    parameters.push(
                        property,
                        Obj::new()
                            .set(
                                "description",
                                format!(
                                    "The CloudEvents subject (the payload's `{property}`) as one \
                                     topic word: `.`, `*` and `#` in it become `_`. Bind `*` for \
                                     every subject."
                                ),
                            )
                            .set("location", "$message.header#/cloudEvents_subject"),
                    );
                    format!("the subject (the payload's `{property}`) as one topic word")
                }
                None => "`_` (this type has no subject)".to_owned(),
            };
            node.push("address", first.routing_key.as_str());
            node.push("title", first.type_.as_str());
            node.push("summary", first.summary.as_str());
            node.push(
                "description",
                format!(
                    "Events of type `{type_}` on the topic exchange `{EVENTS_EXCHANGE}`, routing \
                     key `{type_}.` + {subject}. Each subscriber group binds its own queue \
                     `instadash.events.<group>`: `{type_}.*` for every subject, `{type_}.<subject>` \
                     for one, `instadash.{domain}.#` for the whole domain. Every version of the \
                     type travels here; the version is in `cloudEvents_dataschema`.",
                    type_ = first.type_,
                    domain = first.domain_and_name().0,
                ),
            );
        }
        Kind::Command | Kind::Request if first.routing_key == ANY_SERVICE_KEY => {
            let service = ANY_SERVICE_KEY.trim_matches(['{', '}']);
            parameters.push(
                service,
                Obj::new()
                    .set("description", "The name of the service asked.")
                    .set("enum", strings(&catalog.services)),
            );
            node.push("address", ANY_SERVICE_KEY);
            node.push("title", "Any service, by name");
            node.push(
                "summary",
                "Requests every service answers, addressed to one by name.",
            );
            node.push(
                "description",
                format!(
                    "The direct exchange `{SERVICES_EXCHANGE}` with the target service's name as \
                     routing key, delivered to that service's queue `instadash.service.<service>` \
                     (its inbox, shared by its instances). The types here are answered by every \
                     service."
                ),
            );
        }
        Kind::Command | Kind::Request => {
            let service = &first.routing_key;
            node.push("address", service.as_str());
            node.push("title", format!("Inbox of {service}"));
            node.push(
                "summary",
                format!("Commands and requests for the {service} service."),
            );
            node.push(
                "description",
                format!(
                    "The direct exchange `{SERVICES_EXCHANGE}`, routing key `{service}`, delivered \
                     to the queue `instadash.service.{service}`, shared by the instances of \
                     `{service}`."
                ),
            );
        }
        Kind::Job => {
            let queue = &first.routing_key;
            node.push("address", queue.as_str());
            node.push("title", format!("Work queue {queue}"));
            node.push("summary", format!("Jobs for the {queue} workers."));
            node.push(
                "description",
                format!(
                    "The direct exchange `{WORK_EXCHANGE}`, routing key `{queue}`, delivered to \
                     the work queue `instadash.work.{queue}`: each job goes to one of the \
                     competing workers."
                ),
            );
        }
        Kind::Reply => {
            node.push("address", Node::Null);
            node.push("title", "Direct reply-to");
            node.push("summary", "Replies to requests, straight to the requester.");
            node.push(
                "description",
                "RabbitMQ direct reply-to. A requester consumes the pseudo-queue \
                 `amq.rabbitmq.reply-to` (no-ack, on the channel it publishes the request on) and \
                 sends the request with `reply_to` = `amq.rabbitmq.reply-to`, which the broker \
                 rewrites to `amq.rabbitmq.reply-to.<token>`. The answering service publishes the \
                 reply to the default exchange `\"\"` with that `reply_to` as routing key, \
                 repeating the request's `correlation_id`. The address is known only at run time: \
                 see each request operation's `reply.address`.",
            );
        }
    }
    if !parameters.is_empty() {
        node.push("parameters", parameters);
    }

    let mut messages = Obj::new();
    for spec in members {
        for &version in &spec.versions {
            for &encoding in &spec.encodings {
                let message = message_key(spec, version, encoding);
                messages.push(&message, reference(&["components", "messages", &message]));
            }
        }
    }
    node.push("messages", messages);
    node.push(
        "bindings",
        Obj::new().set(
            "amqp",
            Obj::new()
                .set("is", "routingKey")
                .set(
                    "exchange",
                    Obj::new()
                        .set("name", exchange_name)
                        .set("type", exchange_type)
                        .set("durable", true)
                        .set("autoDelete", false)
                        .set("vhost", "/"),
                )
                .set("bindingVersion", AMQP_BINDING_VERSION),
        ),
    );
    debug_assert_eq!(key, channel_key(first));
    node
}

// ---- operations --------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Send,
    Receive,
}

fn operation(catalog: &Catalog, spec: &MessageSpec, action: Action) -> Obj {
    let channel = channel_key(spec);
    let kind = match spec.kind {
        Kind::Event => "event",
        Kind::Command => "command",
        Kind::Request => "request",
        Kind::Reply => "reply",
        Kind::Job => "job",
    };
    let (verb, role, services) = match action {
        Action::Send => ("send", "producers", &spec.producers),
        Action::Receive => ("receive", "consumers", &spec.consumers),
    };
    let who = if services.iter().any(|s| s == EVERY_SERVICE) {
        "every service".to_owned()
    } else {
        services
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let description = match (action, spec.kind) {
        (Action::Send, Kind::Request) => format!(
            "Sent by {who}, with `reply_to` = `amq.rabbitmq.reply-to` and a `correlation_id`; \
             the request expires (AMQP `expiration`) when the requester stops waiting."
        ),
        (Action::Send, _) => format!("Published by {who}, persistent and mandatory, confirmed."),
        (Action::Receive, Kind::Event) => format!(
            "Consumed by {who}, each subscriber group on its own queue; acknowledged after \
             handling, duplicates dropped by `message_id`."
        ),
        (Action::Receive, Kind::Request) => format!(
            "Answered by {who}: the reply goes to the request's `reply_to` with its \
             `correlation_id`."
        ),
        (Action::Receive, _) => {
            format!(
                "Consumed by {who}; acknowledged after handling, duplicates dropped by `message_id`."
            )
        }
    };
    let mut node = Obj::new()
        .set("action", verb)
        .set("channel", reference(&["channels", &channel]))
        .set(
            "title",
            format!("{} {kind} {}", capitalize(verb), spec.type_),
        )
        .set("summary", spec.summary.as_str())
        .set("description", description)
        .set("messages", channel_messages(&channel, spec));
    if let Some(reply) = spec.reply.as_deref().and_then(|r| catalog.get(r)) {
        node.push(
            "reply",
            Obj::new()
                .set(
                    "address",
                    Obj::new()
                        .set(
                            "description",
                            "The request's AMQP `reply_to` property: RabbitMQ direct reply-to \
                             (`amq.rabbitmq.reply-to.<token>`), through the default exchange.",
                        )
                        .set("location", "$message.header#/reply_to"),
                )
                .set("channel", reference(&["channels", REPLY_CHANNEL]))
                .set("messages", channel_messages(REPLY_CHANNEL, reply)),
        );
    }
    let binding = match action {
        Action::Send => Obj::new()
            .set(
                "deliveryMode",
                if spec.kind == Kind::Request { 1u32 } else { 2 },
            )
            .set("mandatory", true)
            .set("timestamp", true),
        Action::Receive => Obj::new().set("ack", true),
    };
    node.push(
        "bindings",
        Obj::new().set("amqp", binding.set("bindingVersion", AMQP_BINDING_VERSION)),
    );
    node.push(&format!("x-{role}"), strings(services));
    node
}

/// References to every message of `spec` in `channel`.
fn channel_messages(channel: &str, spec: &MessageSpec) -> Vec<Node> {
    let mut refs = Vec::new();
    for &version in &spec.versions {
        for &encoding in &spec.encodings {
            let message = message_key(spec, version, encoding);
            refs.push(reference(&["channels", channel, "messages", &message]).into());
        }
    }
    refs
}

// ---- messages ----------------------------------------------------------------------------------

fn message(
    spec: &MessageSpec,
    version: u32,
    encoding: Encoding,
    key: &str,
    dir: &Path,
) -> Result<Obj, AsyncApiError> {
    let urn = dataschema(&spec.type_, version);
    // Every version has a JSON Schema; its title and description describe the message whatever
    // the encoding.
    let json_path = dir.join(spec.file(version, Encoding::Json));
    let json_schema = if spec.encodings.contains(&Encoding::Json) {
        Some(read_json(&json_path)?)
    } else {
        None
    };
    let text_of = |name: &str| {
        json_schema
            .as_ref()
            .and_then(|s| s.get(name))
            .and_then(Node::as_str)
            .map(str::to_owned)
    };
    let mut title = text_of("title").unwrap_or_else(|| format!("{} v{version}", spec.type_));
    if spec.encodings.len() > 1 {
        title.push_str(match encoding {
            Encoding::Json => " (JSON)",
            Encoding::Avro => " (Avro)",
        });
    }

    let mut description = text_of("description").unwrap_or_else(|| spec.summary.clone());
    description.push_str(&format!(
        "\n\nVersion {version} of `{}`: `cloudEvents_dataschema` = `{urn}`.",
        spec.type_
    ));

    let (payload, fingerprint) = match encoding {
        Encoding::Json => {
            let mut schema = json_schema.ok_or_else(|| AsyncApiError::Schema {
                path: json_path.clone(),
                message: "the catalog lists JSON but there is no JSON Schema".into(),
            })?;
            schema.remove("$id");
            let base = pointer(&["components", "messages", key, "payload", "schema"]);
            rewrite_refs(&mut schema, &base).map_err(|message| AsyncApiError::Schema {
                path: json_path.clone(),
                message,
            })?;
            if spec.default_encoding() != Encoding::Json {
                description.push_str(&format!(
                    " The JSON form, for clients without Avro; the wire default is Avro (`{}`).",
                    message_key(spec, version, spec.default_encoding())
                ));
            }
            (
                Obj::new()
                    .set("schemaFormat", JSON_SCHEMA_FORMAT)
                    .set("schema", schema),
                None,
            )
        }
        Encoding::Avro => {
            let path = dir.join(spec.file(version, Encoding::Avro));
            let text = read(&path)?;
            let parsed =
                apache_avro::Schema::parse_str(&text).map_err(|e| AsyncApiError::Schema {
                    path: path.clone(),
                    message: format!("not a valid Avro schema: {e}"),
                })?;
            let fingerprint = avro_fingerprint(&parsed);
            let schema = parse_json(&path, &text)?;
            description.push_str(&format!(
                " Avro binary datum; writer schema fingerprint (`{AVRO_FINGERPRINT_HEADER}`) \
                 `{fingerprint}`."
            ));
            (
                Obj::new()
                    .set("schemaFormat", AVRO_SCHEMA_FORMAT)
                    .set("schema", schema),
                Some(fingerprint),
            )
        }
    };

    let mut node = Obj::new()
        .set("name", key)
        .set("title", title)
        .set("summary", spec.summary.as_str())
        .set("description", description)
        .set("contentType", encoding.content_type())
        .set("headers", headers(spec, &urn, fingerprint.as_deref()));
    match spec.kind {
        Kind::Request => node.push(
            "correlationId",
            correlation_id(
                "Set by the requester (AMQP property `correlation_id`); the reply repeats it.",
            ),
        ),
        Kind::Reply => node.push(
            "correlationId",
            correlation_id("The request's `correlation_id` (AMQP property), repeated."),
        ),
        _ => {}
    }
    node.push("payload", payload);
    node.push(
        "bindings",
        Obj::new().set(
            "amqp",
            Obj::new()
                .set("messageType", spec.type_.as_str())
                .set("bindingVersion", AMQP_BINDING_VERSION),
        ),
    );
    Ok(node)
}

fn correlation_id(description: &str) -> Obj {
    Obj::new()
        .set("description", description)
        .set("location", "$message.header#/correlation_id")
}

/// The AMQP headers of a message as a JSON Schema: the CloudEvents attributes, trace context and,
/// for Avro, the writer schema's fingerprint.
fn headers(spec: &MessageSpec, urn: &str, fingerprint: Option<&str>) -> Obj {
    let string = |description: &str| {
        Obj::new()
            .set("type", "string")
            .set("description", description)
    };
    let mut required: Vec<&str> = vec![
        "cloudEvents_specversion",
        "cloudEvents_id",
        "cloudEvents_source",
        "cloudEvents_type",
        "cloudEvents_time",
    ];
    let mut properties = Obj::new()
        .set(
            "cloudEvents_specversion",
            string("CloudEvents `specversion`.").set("const", "1.0"),
        )
        .set(
            "cloudEvents_id",
            string(
                "CloudEvents `id`: unique per event (a UUID), also the AMQP `message_id`; \
                 consumers drop duplicates by it.",
            )
            .set("minLength", 1u32),
        )
        .set(
            "cloudEvents_source",
            string("CloudEvents `source`: `/<service>/<instance>`.").set("minLength", 1u32),
        )
        .set(
            "cloudEvents_type",
            string("CloudEvents `type` (no version).").set("const", spec.type_.as_str()),
        )
        .set(
            "cloudEvents_time",
            string("CloudEvents `time`, RFC 3339 (e.g. `2026-11-03T08:15:30.25Z`).")
                .set("format", "date-time"),
        );
    if let Some(property) = &spec.subject {
        required.push("cloudEvents_subject");
        properties.push(
            "cloudEvents_subject",
            string(&format!(
                "CloudEvents `subject`: the entity the message is about, the payload's \
                 `{property}`."
            ))
            .set("minLength", 1u32),
        );
    }
    required.push("cloudEvents_dataschema");
    properties.push(
        "cloudEvents_dataschema",
        string("CloudEvents `dataschema`: the schema version of the payload.").set("const", urn),
    );
    properties.push(
        "traceparent",
        string("W3C Trace Context `traceparent`.").set(
            "pattern",
            "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        ),
    );
    properties.push("tracestate", string("W3C Trace Context `tracestate`."));
    if let Some(fingerprint) = fingerprint {
        required.push(AVRO_FINGERPRINT_HEADER);
        properties.push(
            AVRO_FINGERPRINT_HEADER,
            string(
                "The writer schema: Rabin fingerprint of its Parsing Canonical Form, 8 bytes \
                 little-endian as 16 lowercase hex digits.",
            )
            .set("const", fingerprint),
        );
    }
    Obj::new()
        .set("type", "object")
        .set(
            "required",
            required.into_iter().map(Node::from).collect::<Vec<_>>(),
        )
        .set("properties", properties)
}

/// Points every local `$ref` of an inlined schema (`#...`) at `base` + its pointer; any other
/// `$ref` is an error (schema files are self-contained).
fn rewrite_refs(node: &mut Node, base: &str) -> Result<(), String> {
    match node {
        Node::Object(entries) => {
            for (key, value) in entries {
                match (key.as_str(), value) {
                    ("$ref", Node::String(target)) => match target.strip_prefix('#') {
                        Some(rest) => *target = format!("{base}{rest}"),
                        None => {
                            return Err(format!(
                                "`$ref` `{target}` is not local: schema files must be \
                                 self-contained"
                            ));
                        }
                    },
                    (_, value) => rewrite_refs(value, base)?,
                }
            }
            Ok(())
        }
        Node::Array(items) => items.iter_mut().try_for_each(|i| rewrite_refs(i, base)),
        _ => Ok(()),
    }
}

// ---- helpers -----------------------------------------------------------------------------------

fn read(path: &Path) -> Result<String, AsyncApiError> {
    std::fs::read_to_string(path).map_err(|source| AsyncApiError::Read {
        path: path.to_owned(),
        source,
    })
}

fn parse_json(path: &Path, text: &str) -> Result<Node, AsyncApiError> {
    serde_json::from_str(text).map_err(|e| AsyncApiError::Schema {
        path: path.to_owned(),
        message: format!("not valid JSON: {e}"),
    })
}

fn read_json(path: &Path) -> Result<Node, AsyncApiError> {
    parse_json(path, &read(path)?)
}

/// A JSON pointer (as a URI fragment) to a place in the document.
fn pointer(parts: &[&str]) -> String {
    let mut out = String::from("#");
    for part in parts {
        out.push('/');
        out.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// `{"$ref": "#/<parts...>"}`.
fn reference(parts: &[&str]) -> Obj {
    Obj::new().set("$ref", pointer(parts))
}

fn strings(items: &[String]) -> Vec<Node> {
    items.iter().map(|s| Node::from(s.as_str())).collect()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

// ---- an order-keeping JSON tree ----------------------------------------------------------------

/// A JSON value whose objects keep their keys in the order given (or read), whatever features of
/// `serde_json` are enabled elsewhere in the build: the document must come out the same from any
/// binary that generates it.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn remove(&mut self, key: &str) {
        if let Node::Object(entries) = self {
            entries.retain(|(k, _)| k != key);
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }
}

/// An object under construction; keys must be unique.
struct Obj(Vec<(String, Node)>);

impl Obj {
    fn new() -> Self {
        Obj(Vec::new())
    }

    fn set(mut self, key: &str, value: impl Into<Node>) -> Self {
        self.push(key, value);
        self
    }

    fn push(&mut self, key: &str, value: impl Into<Node>) {
        assert!(
            !self.0.iter().any(|(k, _)| k == key),
            "duplicate key `{key}` in the AsyncAPI document"
        );
        self.0.push((key.to_owned(), value.into()));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Obj> for Node {
    fn from(obj: Obj) -> Self {
        Node::Object(obj.0)
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Node::String(s.to_owned())
    }
}

impl From<String> for Node {
    fn from(s: String) -> Self {
        Node::String(s)
    }
}

impl From<bool> for Node {
    fn from(b: bool) -> Self {
        Node::Bool(b)
    }
}

impl From<u32> for Node {
    fn from(n: u32) -> Self {
        Node::Number(n.into())
    }
}

impl From<Vec<Node>> for Node {
    fn from(items: Vec<Node>) -> Self {
        Node::Array(items)
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Number(n) => n.serialize(serializer),
            Node::String(s) => serializer.serialize_str(s),
            Node::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Node, E> {
        serde_json::Number::from_f64(n)
            .map(Node::Number)
            .ok_or_else(|| E::custom("a JSON number must be finite"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Node>()? {
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            entries.push((key, value));
        }
        Ok(Node::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_keep_their_key_order() {
        let node: Node =
            serde_json::from_str(r#"{"z": 1, "a": [true, null, -2.5], "m": "x"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"{"z":1,"a":[true,null,-2.5],"m":"x"}"#
        );
        assert!(serde_json::from_str::<Node>(r#"{"a": 1, "a": 2}"#).is_err());
    }

    #[test]
    fn local_refs_point_into_the_message() {
        let mut schema: Node = serde_json::from_str(
            r##"{"properties": {"a": {"$ref": "#/$defs/A"}, "b": {"items": [{"$ref": "#"}]}}}"##,
        )
        .unwrap();
        rewrite_refs(&mut schema, "#/components/messages/t.v1/payload/schema").unwrap();
        assert_eq!(
            serde_json::to_string(&schema).unwrap(),
            r##"{"properties":{"a":{"$ref":"#/components/messages/t.v1/payload/schema/$defs/A"},"b":{"items":[{"$ref":"#/components/messages/t.v1/payload/schema"}]}}}"##
        );
        let mut external: Node = serde_json::from_str(r#"{"$ref": "other.json#/x"}"#).unwrap();
        assert!(rewrite_refs(&mut external, "#").is_err());
    }

    #[test]
    fn pointers_escape_their_parts() {
        assert_eq!(pointer(&["a/b", "c~d"]), "#/a~1b/c~0d");
    }
}
