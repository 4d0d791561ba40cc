//! Prometheus metrics of the platform, as the monitor sees it (`GET /metrics`), through the
//! `metrics` crate and its Prometheus exporter. Names start with `instadash_`; RabbitMQ's own
//! (`rabbitmq_*`, from its Prometheus plugin) complement them — `deploy/grafana/` uses both.
//!
//! Counters come from the services' statistics reports (summed over instances; a report carries
//! its interval's counts, so adding them up is exact). Gauges are set from each overview.

use std::sync::OnceLock;

use metrics::{counter, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use instadash_schemas::platform::service_stats::v1::{Direction, ServiceStats};

use crate::api::{Health, Overview};

/// The process's recorder (one per process: the `metrics` facade is global).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed (an embedding program's): then ours still
            // renders what is recorded through it directly.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts one statistics report.
pub fn report(stats: &ServiceStats) {
    let service = stats.service.clone();
    for m in &stats.messages {
        let direction = match m.direction {
            Direction::In => "in",
            Direction::Out => "out",
        };
        let labels = [
            ("service", service.clone()),
            ("type", m.type_.clone()),
            ("direction", direction.to_owned()),
        ];
        counter!("instadash_messages_total", &labels).increment(m.count);
        counter!("instadash_message_bytes_total", &labels).increment(m.bytes);
    }
    let by_service = [("service", service.clone())];
    counter!("instadash_handler_errors_total", &by_service).increment(stats.errors);
    counter!("instadash_retries_total", &by_service).increment(stats.retries);
    counter!("instadash_dead_lettered_total", &by_service).increment(stats.dead_lettered);
    counter!("instadash_rejected_by_validation_total", &by_service)
        .increment(stats.rejected_by_validation);
    counter!("instadash_reconnects_total", &by_service).increment(stats.reconnects);
    for h in &stats.handlers {
        if h.latency.count > 0 {
            let labels = [("service", service.clone()), ("type", h.type_.clone())];
            gauge!("instadash_handler_latency_p99_seconds", &labels)
                .set(h.latency.p99_us as f64 / 1e6);
            gauge!("instadash_handler_latency_p50_seconds", &labels)
                .set(h.latency.p50_us as f64 / 1e6);
        }
    }
    if stats.confirm_latency.count > 0 {
        gauge!("instadash_confirm_latency_p99_seconds", &by_service)
            .set(stats.confirm_latency.p99_us as f64 / 1e6);
    }
    let by_instance = [("service", service), ("instance", stats.instance.clone())];
    if let Some(cpu) = stats.process_cpu_pct {
        gauge!("instadash_process_cpu_percent", &by_instance).set(cpu);
    }
    if let Some(rss) = stats.process_rss_bytes {
        gauge!("instadash_process_resident_memory_bytes", &by_instance).set(rss as f64);
    }
}

/// Sets the gauges of one overview, and the fleet's.
pub fn overview(
    view: &Overview,
    vehicles: &std::collections::BTreeMap<String, u64>,
    vehicle_alerts: usize,
) {
    for q in &view.queues {
        let labels = [("queue", q.name.clone())];
        gauge!("instadash_queue_messages_ready", &labels).set(q.ready as f64);
        gauge!("instadash_queue_messages_unacked", &labels).set(q.unacked as f64);
        gauge!("instadash_queue_consumers", &labels).set(q.consumers as f64);
        gauge!("instadash_queue_publish_rate", &labels).set(q.publish_per_s);
        gauge!("instadash_queue_deliver_rate", &labels).set(q.deliver_per_s);
    }
    for s in &view.services {
        for health in [Health::Live, Health::Unresponsive, Health::Gone] {
            let n = s.instances.iter().filter(|i| i.health == health).count();
            let labels = [
                ("service", s.name.clone()),
                ("health", crate::fleet::word(&health)),
            ];
            gauge!("instadash_service_instances", &labels).set(n as f64);
        }
    }
    gauge!("instadash_broker_reachable").set(if view.broker.reachable { 1.0 } else { 0.0 });
    gauge!("instadash_broker_alarms").set(view.broker.alarms.len() as f64);
    for kind in crate::api::OperatorAlertKind::ALL {
        let n = view
            .operator_alerts
            .iter()
            .filter(|a| a.cleared_ms.is_none() && a.kind == kind)
            .count();
        gauge!("instadash_operator_alerts_active", "kind" => crate::fleet::word(&kind))
            .set(n as f64);
    }
    for (status, n) in vehicles {
        gauge!("instadash_vehicles", "status" => status.clone()).set(*n as f64);
    }
    gauge!("instadash_vehicle_alerts_active").set(vehicle_alerts as f64);
}

/// Counts an operator alert raised.
pub fn operator_alert_raised(kind: crate::api::OperatorAlertKind) {
    counter!("instadash_operator_alerts_raised_total", "kind" => crate::fleet::word(&kind))
        .increment(1);
}
