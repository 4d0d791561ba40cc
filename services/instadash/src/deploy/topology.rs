//! The platform's broker topology, from the message catalog: one broker user per service with the
//! least it needs ([`broker_bridge::access`]), the users of people and tools, the exchanges, the
//! durable queues as the bridge declares them, their bindings and policies. The definitions file
//! and the Kubernetes resources are two renderings of this one model.

use broker_bridge::access::{self, Permissions, Role};
use broker_bridge::topology::{self, Argument};
use instadash_schemas::catalog::{ANY_SERVICE_KEY, EVERY_SERVICE};
use instadash_schemas::{Catalog, Kind};

/// Types the bridge itself consumes on queues of its own (presence, directory, trace view), never
/// through a subscriber group.
const BRIDGE_QUEUES_ONLY: &str = "instadash.platform.";

pub struct Topology {
    pub vhost: String,
    pub users: Vec<User>,
    pub exchanges: Vec<(&'static str, &'static str)>,
    pub queues: Vec<topology::QueuePlan>,
    /// `(exchange, queue, routing key)`.
    pub bindings: Vec<(String, String, String)>,
    pub policies: Vec<Policy>,
}

pub struct User {
    pub name: String,
    /// RabbitMQ user tags: `administrator`, `monitoring`, `management`, or none.
    pub tags: Vec<&'static str>,
    pub permissions: Permissions,
    /// Whether its topic permissions on `instadash.events` are checked; a user without them may
    /// use every routing key its permissions let it reach the exchange with.
    pub topic_limited: bool,
}

pub struct Policy {
    pub name: &'static str,
    pub pattern: String,
    pub apply_to: &'static str,
    pub priority: i64,
    /// `(key, value)` of the policy's definition.
    pub definition: Vec<(&'static str, Argument)>,
}

/// The user of the people who run the platform (management UI, definitions export).
pub const ADMIN: &str = "admin";
/// The user of the operators' command-line tools (`instadash services`, `dlq`, ...).
pub const OPERATOR: &str = "operator";

/// Every broker user of a deployment, in the order they are listed.
pub fn user_names(catalog: &Catalog) -> Vec<String> {
    [ADMIN, OPERATOR]
        .into_iter()
        .map(str::to_owned)
        .chain(catalog.services.iter().cloned())
        .collect()
}

impl Topology {
    /// `retry_delay_ms` must be the services' `retry_delay_ms`: it is an argument of every retry
    /// queue, and a service declaring its queue with another finds it refused.
    pub fn from_catalog(catalog: &Catalog, vhost: &str, retry_delay_ms: u64) -> Topology {
        let roles: Vec<Role> = catalog.services.iter().map(|s| role(catalog, s)).collect();
        let mut users = vec![
            User {
                name: ADMIN.into(),
                tags: vec!["administrator"],
                permissions: everything(),
                topic_limited: false,
            },
            operator(),
        ];
        let mut queues = Vec::new();
        let mut bindings = Vec::new();
        for role in &roles {
            users.push(User {
                name: role.service.clone(),
                // The monitor reads every queue's figures from the management API.
                tags: if role.handles_dead_letters {
                    vec!["monitoring"]
                } else {
                    Vec::new()
                },
                permissions: role.permissions(),
                topic_limited: true,
            });
            for family in role.queues(retry_delay_ms) {
                for plan in family.plan() {
                    for (exchange, key) in &plan.bindings {
                        bindings.push(((*exchange).to_owned(), plan.name.clone(), key.clone()));
                    }
                    queues.push(plan);
                }
            }
            for (exchange, queue, key) in role.bindings() {
                bindings.push((exchange.to_owned(), queue, key));
            }
        }
        Topology {
            vhost: vhost.to_owned(),
            users,
            exchanges: topology::EXCHANGES.to_vec(),
            queues,
            bindings,
            policies: vec![Policy {
                // Presence, directory and trace-view queues take heartbeats, pings and answers that
                // are stale within seconds; a consumer that hangs must not make them grow forever.
                name: "instadash-ephemeral",
                pattern: r"^(instadash\.(presence|directory)\.|amq\.gen-)".to_owned(),
                apply_to: "queues",
                priority: 0,
                definition: vec![
                    ("max-length", Argument::Integer(10_000)),
                    ("overflow", Argument::Text("drop-head".into())),
                ],
            }],
        }
    }
}

/// What `service` does on the broker, by the catalog: the messages it produces and consumes.
pub fn role(catalog: &Catalog, service: &str) -> Role {
    let mut role = Role {
        service: service.to_owned(),
        ..Role::default()
    };
    // The monitor is the operators' view: it reads why messages were dead-lettered.
    role.handles_dead_letters = service == "monitor";
    for message in &catalog.messages {
        let produces = message
            .producers
            .iter()
            .any(|p| p == service || p == EVERY_SERVICE);
        let named_consumer = message.consumers.iter().any(|c| c == service);
        let consumes = named_consumer || message.consumers.iter().any(|c| c == EVERY_SERVICE);
        match message.kind {
            Kind::Event => {
                if produces {
                    role.publishes
                        .push(key_pattern(&message.routing_key, service));
                }
                if consumes {
                    role.binds.push(message.type_.clone());
                }
                if named_consumer && !message.type_.starts_with(BRIDGE_QUEUES_ONLY) {
                    role.subscribes = true;
                }
                if named_consumer && message.type_ == "instadash.platform.service-heartbeat" {
                    role.follows_directory = true;
                }
                if produces && message.type_ == "instadash.platform.trace-query" {
                    role.asks_traces = true;
                }
                // The monitor's statistics reports come through its subscriber group.
                if named_consumer && message.type_ == "instadash.platform.service-stats" {
                    role.subscribes = true;
                }
            }
            Kind::Command | Kind::Request => {
                role.sends |= produces;
                role.serves |= named_consumer;
            }
            Kind::Job => {
                role.submits |= produces;
                if named_consumer && !role.works_on.contains(&message.routing_key) {
                    role.works_on.push(message.routing_key.clone());
                }
            }
            // Replies go through the default exchange to the asker's reply-to: the `serves` side.
            Kind::Reply => {}
        }
    }
    role
}

/// A catalog routing key (`instadash.vehicle.position.{vehicle_id}`) as the pattern of the keys
/// `service` may publish with: its own name for `{service}`, any subject for the others.
fn key_pattern(template: &str, service: &str) -> String {
    let mut pattern = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        pattern.push_str(&access::escape(&rest[..start]));
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        if &rest[start..end] == ANY_SERVICE_KEY {
            pattern.push_str(&access::escape(service));
        } else {
            pattern.push_str(".+");
        }
        rest = &rest[end..];
    }
    pattern.push_str(&access::escape(rest));
    pattern
}

fn everything() -> Permissions {
    Permissions {
        configure: ".*".into(),
        write: ".*".into(),
        read: ".*".into(),
        topic_write: ".*".into(),
        topic_read: ".*".into(),
    }
}

/// The operators' tools connect under their own service names (`instadash-cli`, `instadash-dlq`):
/// they hold a presence queue, follow the directory, ask traces, read and replay dead letters,
/// and send requests; they declare nothing durable.
fn operator() -> User {
    let own = r"instadash\.(presence|directory)\.instadash-[a-z]+\..+|amq\.gen-.+";
    User {
        name: OPERATOR.into(),
        tags: vec!["management"],
        permissions: Permissions {
            configure: format!("^({own})$"),
            write: format!(r"^({own}|instadash\.(events|services|work|dead-letter)|amq\.default)$"),
            read: format!(r"^({own}|instadash\..+|amq\.rabbitmq\.reply-to)$"),
            topic_write: ".*".into(),
            topic_read: ".*".into(),
        },
        topic_limited: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_key_templates_become_patterns() {
        assert_eq!(
            key_pattern("instadash.vehicle.position.{vehicle_id}", "simulator"),
            r"instadash\.vehicle\.position\..+"
        );
        assert_eq!(
            key_pattern("instadash.platform.service-stats.{service}", "trips"),
            r"instadash\.platform\.service-stats\.trips"
        );
        assert_eq!(
            key_pattern("instadash.platform.directory-ping._", "trips"),
            r"instadash\.platform\.directory-ping\._"
        );
    }

    #[test]
    fn roles_follow_the_catalog() {
        let catalog = Catalog::embedded();
        let simulator = role(catalog, "simulator");
        assert!(simulator.serves, "the cars answer get-clip-bytes");
        assert!(!simulator.subscribes && !simulator.sends && !simulator.submits);
        let dashcam = role(catalog, "dashcam");
        assert_eq!(dashcam.works_on, ["dashcam-clips"]);
        assert!(dashcam.submits && dashcam.sends && dashcam.subscribes);
        let monitor = role(catalog, "monitor");
        assert!(monitor.follows_directory && monitor.asks_traces && monitor.handles_dead_letters);
        assert!(!monitor.serves);
        let tracker = role(catalog, "tracker");
        assert!(tracker.serves && tracker.subscribes && !tracker.sends);
    }

    #[test]
    fn every_consumed_queue_is_a_quorum_family() {
        let topology = Topology::from_catalog(Catalog::embedded(), "instadash", 1000);
        let names: Vec<&str> = topology.queues.iter().map(|q| q.name.as_str()).collect();
        for queue in [
            "instadash.events.tracker",
            "instadash.events.tracker.retry",
            "instadash.events.tracker.dead-letter",
            "instadash.service.tracker",
            "instadash.work.dashcam-clips",
            "instadash.service.simulator",
        ] {
            assert!(names.contains(&queue), "{queue} missing from {names:?}");
        }
        assert!(topology.queues.iter().all(|q| {
            q.arguments
                .contains(&("x-queue-type", Argument::Text("quorum".into())))
        }));
        assert!(
            !names.contains(&"instadash.events.simulator"),
            "the simulator subscribes to nothing"
        );
        assert!(topology.users.iter().all(|u| u.name != "guest"));
    }
}
