//! What a service needs from the broker, as RabbitMQ permissions: the least a broker user must be
//! allowed for a bridge doing a given set of things, and nothing more.
//!
//! RabbitMQ checks three regular expressions per user and vhost against the names of the resources
//! an operation touches: *configure* (declare, delete), *write* (publish to an exchange; bind a
//! queue, which writes into it) and *read* (consume or get from a queue; bind from an exchange).
//! On a topic exchange it also checks the routing key: *topic write* when publishing, *topic
//! read* against the binding key when binding. A refusal closes the channel with ACCESS_REFUSED.
//!
//! The names come from [`crate::topology`] and [`crate::discovery`], so the permissions follow the
//! bridge when it changes. Exchanges are made by the deployment (the bridge only checks that they
//! exist), so no service may configure them.

use crate::topology::{self, DEAD_LETTER, EVENTS, QueueFamily, QueueKind, RETRY, SERVICES, WORK};

/// Everything one service does on the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Role {
    pub service: String,
    /// Events it publishes, as routing-key patterns (regular expressions) on `instadash.events`,
    /// e.g. `instadash\.vehicle\.position\..+`.
    pub publishes: Vec<String>,
    /// Event types it binds a queue to (its subscriber group's queue, its presence queue, a
    /// directory's or the trace view's queue): binding keys `<type>.<anything>`.
    pub binds: Vec<String>,
    /// It subscribes, as group `service`, to some of the events in `binds`.
    pub subscribes: bool,
    /// It answers commands or requests in its inbox (and replies through the default exchange).
    pub serves: bool,
    /// It sends commands or requests to other services (and takes replies by direct reply-to).
    pub sends: bool,
    /// Work queues it consumes.
    pub works_on: Vec<String>,
    /// It submits jobs to work queues.
    pub submits: bool,
    /// It follows the directory (a queue of its own bound to every instance's announcements).
    pub follows_directory: bool,
    /// It asks every instance for spans (a server-named queue for the answers).
    pub asks_traces: bool,
    /// It reads other services' dead letters (in place) and may send them back (replay).
    pub handles_dead_letters: bool,
}

/// RabbitMQ's permissions for one user in one vhost, and its topic permissions on
/// `instadash.events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub configure: String,
    pub write: String,
    pub read: String,
    pub topic_write: String,
    pub topic_read: String,
}

impl Role {
    /// The durable queues this service consumes (each a family: queue, retry, dead letter), as
    /// the bridge declares them with `retry_delay_ms` (`BridgeConfig::retry`).
    pub fn queues(&self, retry_delay_ms: u64) -> Vec<QueueFamily> {
        let mut names = Vec::new();
        if self.subscribes {
            names.push(topology::group_queue(&self.service));
        }
        if self.serves {
            names.push(topology::inbox_queue(&self.service));
        }
        names.extend(self.works_on.iter().map(|q| topology::work_queue(q)));
        names
            .into_iter()
            .map(|name| QueueFamily::new(name, QueueKind::Quorum, retry_delay_ms))
            .collect()
    }

    /// The bindings that bring work and requests to the queues of [`Role::queues`], as
    /// `(exchange, queue, routing key)`. A subscriber group's bindings are not here: the bridge
    /// binds exactly the event types the service has handlers for when it subscribes (the
    /// permissions allow every type it may consume).
    pub fn bindings(&self) -> Vec<(&'static str, String, String)> {
        let mut bindings = Vec::new();
        if self.serves {
            let inbox = topology::inbox_queue(&self.service);
            bindings.push((SERVICES, inbox, self.service.clone()));
        }
        for name in &self.works_on {
            bindings.push((WORK, topology::work_queue(name), name.clone()));
        }
        bindings
    }

    pub fn permissions(&self) -> Permissions {
        let service = escape(&self.service);
        // Queues of its own: declared, bound (a write into them) and consumed.
        let mut own = vec![format!(r"instadash\.presence\.{service}\..+")];
        let family = |queue: String| format!(r"{}(\.retry|\.dead-letter)?", escape(&queue));
        if self.subscribes {
            own.push(family(topology::group_queue(&self.service)));
        }
        if self.serves {
            own.push(family(topology::inbox_queue(&self.service)));
        }
        for name in &self.works_on {
            own.push(family(topology::work_queue(name)));
        }
        if self.follows_directory {
            own.push(format!(r"instadash\.directory\.{service}\..+"));
        }
        if self.asks_traces {
            own.push(r"amq\.gen-.+".to_owned());
        }

        // Every instance announces itself and reports on `instadash.events`.
        let mut write_exchanges = vec![EVENTS];
        // Binding a queue reads from the exchange; the presence queue binds to the events.
        let mut read_exchanges = vec![EVENTS];
        let mut read_queues = Vec::new();
        if self.subscribes || self.serves || !self.works_on.is_empty() {
            // A failed message goes to its queue's retry or dead-letter queue through these.
            write_exchanges.extend([RETRY, DEAD_LETTER]);
            read_exchanges.extend([RETRY, DEAD_LETTER]);
        }
        if self.serves {
            write_exchanges.push(DEFAULT_EXCHANGE);
            read_exchanges.push(SERVICES);
        }
        if !self.works_on.is_empty() {
            read_exchanges.push(WORK);
        }
        if self.sends {
            write_exchanges.push(SERVICES);
            read_queues.push(escape(topology::DIRECT_REPLY_TO));
        }
        if self.submits {
            write_exchanges.push(WORK);
        }
        if self.handles_dead_letters {
            // Replaying sends a letter back to its queue through the default exchange, or to the
            // dead-letter queue again with its new reason.
            write_exchanges.extend([DEFAULT_EXCHANGE, DEAD_LETTER]);
            read_queues.push(r"instadash\..+\.dead-letter".to_owned());
        }

        let escaped = |names: &[&str]| names.iter().map(|n| escape(n)).collect::<Vec<_>>();
        let write = [own.clone(), escaped(&write_exchanges)].concat();
        let read = [own.clone(), escaped(&read_exchanges), read_queues].concat();
        Permissions {
            configure: any_of(&own),
            write: any_of(&write),
            read: any_of(&read),
            topic_write: any_of(&self.publishes),
            topic_read: any_of(
                &self
                    .binds
                    .iter()
                    .map(|kind| format!(r"{}\..+", escape(kind)))
                    .collect::<Vec<_>>(),
            ),
        }
    }
}

/// How RabbitMQ names the default exchange in permissions.
const DEFAULT_EXCHANGE: &str = "amq.default";

/// A regular expression matching exactly one of `alternatives` (each itself a regex); one that
/// matches nothing when there are none.
fn any_of(alternatives: &[String]) -> String {
    let mut unique: Vec<&String> = alternatives.iter().collect();
    unique.sort();
    unique.dedup();
    match unique.as_slice() {
        [] => "^$".to_owned(),
        [one] => format!("^{one}$"),
        many => format!(
            "^({})$",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("|")
        ),
    }
}

/// `text` as a regular expression matching only itself.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Role {
        Role {
            service: "tracker".into(),
            publishes: vec![r"instadash\.vehicle\.status-changed\..+".into()],
            binds: vec!["instadash.vehicle.position".into()],
            subscribes: true,
            serves: true,
            ..Role::default()
        }
    }

    fn matches(pattern: &str, name: &str) -> bool {
        regex_lite::Regex::new(pattern).unwrap().is_match(name)
    }

    #[test]
    fn a_consumer_may_configure_its_own_queues_only() {
        let p = tracker().permissions();
        for own in [
            "instadash.events.tracker",
            "instadash.events.tracker.retry",
            "instadash.events.tracker.dead-letter",
            "instadash.service.tracker",
            "instadash.presence.tracker.0192",
        ] {
            assert!(matches(&p.configure, own), "{own} against {}", p.configure);
            assert!(matches(&p.read, own), "{own} against {}", p.read);
        }
        for other in [
            "instadash.events.alerts",
            "instadash.events.trackerx",
            "instadash.events",
            "instadash.presence.alerts.0192",
            "amq.gen-abc",
        ] {
            assert!(
                !matches(&p.configure, other),
                "{other} against {}",
                p.configure
            );
        }
    }

    #[test]
    fn exchanges_are_written_only_where_the_role_sends() {
        let p = tracker().permissions();
        for exchange in [
            "instadash.events",
            "instadash.retry",
            "instadash.dead-letter",
            "amq.default",
        ] {
            assert!(
                matches(&p.write, exchange),
                "{exchange} against {}",
                p.write
            );
        }
        for exchange in ["instadash.work", "instadash.services", "amq.topic"] {
            assert!(
                !matches(&p.write, exchange),
                "{exchange} against {}",
                p.write
            );
        }
        assert!(matches(
            &p.topic_write,
            "instadash.vehicle.status-changed.car-1"
        ));
        assert!(!matches(&p.topic_write, "instadash.alert.raised.car-1"));
        assert!(matches(&p.topic_read, "instadash.vehicle.position.*"));
        assert!(!matches(&p.topic_read, "instadash.vehicle.positionx.*"));
    }

    #[test]
    fn nothing_allowed_is_an_empty_match() {
        let p = Role {
            service: "quiet".into(),
            ..Role::default()
        }
        .permissions();
        assert_eq!(p.topic_write, "^$");
        assert!(!matches(&p.topic_write, "instadash.vehicle.position.car-1"));
    }

    #[test]
    fn a_sender_reads_replies_and_a_dead_letter_handler_reads_dead_letters() {
        let role = Role {
            service: "monitor".into(),
            sends: true,
            handles_dead_letters: true,
            ..Role::default()
        };
        let p = role.permissions();
        assert!(matches(&p.read, "amq.rabbitmq.reply-to"));
        assert!(matches(&p.read, "instadash.events.tracker.dead-letter"));
        assert!(!matches(&p.read, "instadash.events.tracker"));
        assert!(matches(&p.write, "instadash.services"));
    }
}
