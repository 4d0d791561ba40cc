//! The topology as a RabbitMQ definitions file (`rabbitmqctl import_definitions`, or
//! `load_definitions` at boot), with each user's password as RabbitMQ's salted SHA-256 hash.

use std::collections::BTreeMap;

use base64::Engine;
use broker_bridge::topology::Argument;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::topology::Topology;

/// The definitions document; `passwords` maps every user of `topology` to its password.
pub fn render(topology: &Topology, passwords: &BTreeMap<String, String>) -> anyhow::Result<Value> {
    let vhost = topology.vhost.as_str();
    let mut users = Vec::new();
    let mut permissions = Vec::new();
    let mut topic_permissions = Vec::new();
    for user in &topology.users {
        let password = passwords
            .get(&user.name)
            .ok_or_else(|| anyhow::anyhow!("no password for broker user `{}`", user.name))?;
        users.push(json!({
            "name": user.name,
            "password_hash": password_hash(password, rand::random()),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": user.tags,
            "limits": {},
        }));
        let p = &user.permissions;
        permissions.push(json!({
            "user": user.name, "vhost": vhost,
            "configure": p.configure, "write": p.write, "read": p.read,
        }));
        if user.topic_limited {
            topic_permissions.push(json!({
                "user": user.name, "vhost": vhost, "exchange": broker_bridge::topology::EVENTS,
                "write": p.topic_write, "read": p.topic_read,
            }));
        }
    }
    let exchanges: Vec<Value> = topology
        .exchanges
        .iter()
        .map(|(name, kind)| {
            json!({
                "name": name, "vhost": vhost, "type": kind, "durable": true,
                "auto_delete": false, "internal": false, "arguments": {},
            })
        })
        .collect();
    let queues: Vec<Value> = topology
        .queues
        .iter()
        .map(|queue| {
            json!({
                "name": queue.name, "vhost": vhost, "durable": true, "auto_delete": false,
                "arguments": arguments(&queue.arguments),
            })
        })
        .collect();
    let bindings: Vec<Value> = topology
        .bindings
        .iter()
        .map(|(exchange, queue, key)| {
            json!({
                "source": exchange, "vhost": vhost, "destination": queue,
                "destination_type": "queue", "routing_key": key, "arguments": {},
            })
        })
        .collect();
    let policies: Vec<Value> = topology
        .policies
        .iter()
        .map(|policy| {
            json!({
                "vhost": vhost, "name": policy.name, "pattern": policy.pattern,
                "apply-to": policy.apply_to, "priority": policy.priority,
                "definition": arguments(&policy.definition),
            })
        })
        .collect();
    Ok(json!({
        "rabbitmq_version": "3.10.8",
        "users": users,
        "vhosts": [{ "name": vhost }],
        "permissions": permissions,
        "topic_permissions": topic_permissions,
        "parameters": [],
        "global_parameters": [],
        "policies": policies,
        "queues": queues,
        "exchanges": exchanges,
        "bindings": bindings,
    }))
}

/// Queue arguments or a policy definition as a JSON object.
pub fn arguments(arguments: &[(&'static str, Argument)]) -> Value {
    let map = arguments
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Argument::Text(text) => Value::from(text.as_str()),
                Argument::Integer(n) => Value::from(*n),
            };
            ((*key).to_owned(), value)
        })
        .collect();
    Value::Object(map)
}

/// RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ SHA-256(salt ‖ password)), with a
/// 4-byte salt, so no password is written down.
fn password_hash(password: &str, salt: [u8; 4]) -> String {
    let digest = Sha256::new()
        .chain_update(salt)
        .chain_update(password.as_bytes())
        .finalize();
    let mut salted = salt.to_vec();
    salted.extend_from_slice(&digest);
    base64::engine::general_purpose::STANDARD.encode(salted)
}
