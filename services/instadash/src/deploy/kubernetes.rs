//! The topology as RabbitMQ Messaging Topology Operator resources (`rabbitmq.com/v1beta1`), for
//! the `RabbitmqCluster` of `deploy/k8s/`. Passwords are not here: each `User` imports its
//! credentials from a Secret `instadash-<user>-credentials` the cluster's operators create.

use serde_json::{Value, json};

use super::definitions::arguments;
use super::topology::Topology;

pub const NAMESPACE: &str = "instadash";
pub const CLUSTER: &str = "instadash-rabbitmq";

/// Every resource, in an order that applies cleanly: the vhost, exchanges, queues, bindings,
/// policies, then users and their permissions.
pub fn resources(topology: &Topology) -> Vec<Value> {
    let vhost = topology.vhost.as_str();
    let resource = |kind: &str, name: &str, spec: Value| {
        let mut spec = spec;
        spec["rabbitmqClusterReference"] = json!({ "name": CLUSTER });
        json!({
            "apiVersion": "rabbitmq.com/v1beta1",
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": { "app.kubernetes.io/part-of": "instadash" },
            },
            "spec": spec,
        })
    };
    let mut out = vec![resource("Vhost", vhost, json!({ "name": vhost }))];
    for (name, kind) in &topology.exchanges {
        out.push(resource(
            "Exchange",
            name,
            json!({ "name": name, "vhost": vhost, "type": kind, "durable": true, "autoDelete": false }),
        ));
    }
    for queue in &topology.queues {
        // The operator sets the queue type from `type`; the other arguments go as they are.
        let rest: Vec<_> = queue
            .arguments
            .iter()
            .filter(|(key, _)| *key != "x-queue-type")
            .cloned()
            .collect();
        out.push(resource(
            "Queue",
            &queue.name,
            json!({
                "name": queue.name, "vhost": vhost, "type": "quorum", "durable": true,
                "autoDelete": false, "arguments": arguments(&rest),
            }),
        ));
    }
    for (exchange, queue, key) in &topology.bindings {
        out.push(resource(
            "Binding",
            &format!("{queue}-from-{exchange}"),
            json!({
                "vhost": vhost, "source": exchange, "destination": queue,
                "destinationType": "queue", "routingKey": key,
            }),
        ));
    }
    for policy in &topology.policies {
        out.push(resource(
            "Policy",
            policy.name,
            json!({
                "name": policy.name, "vhost": vhost, "pattern": policy.pattern,
                "applyTo": policy.apply_to, "priority": policy.priority,
                "definition": arguments(&policy.definition),
            }),
        ));
    }
    for user in &topology.users {
        let name = user.name.as_str();
        out.push(resource(
            "User",
            name,
            json!({
                "tags": user.tags,
                "importCredentialsSecret": { "name": format!("instadash-{name}-credentials") },
            }),
        ));
        let p = &user.permissions;
        out.push(resource(
            "Permission",
            &format!("{name}-{vhost}"),
            json!({
                "vhost": vhost, "userReference": { "name": name },
                "permissions": { "configure": p.configure, "write": p.write, "read": p.read },
            }),
        ));
        if user.topic_limited {
            out.push(resource(
                "TopicPermission",
                &format!("{name}-{vhost}-events"),
                json!({
                    "vhost": vhost, "userReference": { "name": name },
                    "permissions": {
                        "exchange": broker_bridge::topology::EVENTS,
                        "write": p.topic_write, "read": p.topic_read,
                    },
                }),
            ));
        }
    }
    out
}
