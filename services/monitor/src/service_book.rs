//! Every service seen on the bus: its instances from discovery (the bridge's `Directory`) and each
//! instance's last `service-stats` report. Instances that left stay listed as gone for a while, and
//! a service stays known after its last instance left, so "no live instance" can be said.

use std::collections::BTreeMap;

use broker_bridge::{Instance, InstanceStatus};
use instadash_schemas::platform::service_stats::v1::{Direction, ServiceStats};

use crate::api::{Health, InstanceStats, InstanceView, ServiceView, TypeStats};

/// How long an instance that left stays listed, and a service without instances stays known.
pub const FORGET_AFTER_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Default)]
pub struct ServiceBook {
    /// service → instance → view.
    services: BTreeMap<String, BTreeMap<String, InstanceView>>,
    /// service → when it was last seen with an instance.
    last_seen: BTreeMap<String, u64>,
}

impl ServiceBook {
    /// The directory's current list: listed instances are live or unresponsive, the rest are gone.
    pub fn directory(&mut self, now_ms: u64, instances: &[Instance]) {
        for view in self.services.values_mut().flat_map(BTreeMap::values_mut) {
            view.health = Health::Gone;
        }
        for instance in instances {
            let view = self
                .services
                .entry(instance.service.clone())
                .or_default()
                .entry(instance.instance.clone())
                .or_default();
            view.instance.clone_from(&instance.instance);
            view.version = Some(instance.version.clone());
            view.host = Some(instance.host.clone());
            view.health = match instance.status {
                InstanceStatus::Live => Health::Live,
                InstanceStatus::Unresponsive => Health::Unresponsive,
            };
            view.offers = offers(instance);
            view.last_seen_ms = u64::try_from(instance.last_seen_ms).unwrap_or(0);
            self.last_seen.insert(instance.service.clone(), now_ms);
        }
        self.forget(now_ms);
    }

    /// An instance's statistics report.
    pub fn stats(&mut self, report: &ServiceStats) {
        let view = self
            .services
            .entry(report.service.clone())
            .or_default()
            .entry(report.instance.clone())
            .or_insert_with(|| InstanceView {
                instance: report.instance.clone(),
                // Not in the directory yet: its announcement is on its way.
                health: Health::Live,
                ..InstanceView::default()
            });
        view.stats = Some(instance_stats(report));
    }

    fn forget(&mut self, now_ms: u64) {
        for instances in self.services.values_mut() {
            instances.retain(|_, view| {
                view.health != Health::Gone
                    || now_ms.saturating_sub(view.last_seen_ms) < FORGET_AFTER_MS
            });
        }
        let last_seen = &self.last_seen;
        self.services.retain(|name, instances| {
            !instances.is_empty()
                || last_seen
                    .get(name)
                    .is_some_and(|seen| now_ms.saturating_sub(*seen) < FORGET_AFTER_MS)
        });
    }

    pub fn views(&self) -> Vec<ServiceView> {
        self.services
            .iter()
            .map(|(name, instances)| {
                let live = instances.values().filter(|i| i.health == Health::Live);
                let (in_per_s, out_per_s) = live
                    .filter_map(|i| i.stats.as_ref())
                    .fold((0.0, 0.0), |(a, b), s| (a + s.in_per_s, b + s.out_per_s));
                ServiceView {
                    name: name.clone(),
                    instances: instances.values().cloned().collect(),
                    in_per_s,
                    out_per_s,
                }
            })
            .collect()
    }
}

fn offers(instance: &Instance) -> Vec<String> {
    let o = &instance.offers;
    let types = |label: &str, list: &[broker_bridge::discovery::TypeVersions]| {
        list.iter()
            .map(|t| format!("{label} {}", t.type_))
            .collect::<Vec<_>>()
    };
    let mut all = types("consumes", &o.consumes);
    all.extend(types("answers", &o.requests));
    all.extend(types("accepts", &o.commands));
    all.extend(o.work_queues.iter().map(|q| format!("works on {q}")));
    all
}

/// A report's counts as rates over its interval.
pub fn instance_stats(report: &ServiceStats) -> InstanceStats {
    let seconds = f64::from(report.interval_s.max(1));
    let mut types: BTreeMap<&str, TypeStats> = BTreeMap::new();
    for count in &report.messages {
        let t = types.entry(&count.type_).or_insert_with(|| TypeStats {
            r#type: count.type_.clone(),
            ..TypeStats::default()
        });
        let rate = count.count as f64 / seconds;
        match count.direction {
            Direction::In => t.in_per_s += rate,
            Direction::Out => t.out_per_s += rate,
        }
    }
    for handler in &report.handlers {
        let t = types.entry(&handler.type_).or_insert_with(|| TypeStats {
            r#type: handler.type_.clone(),
            ..TypeStats::default()
        });
        t.handled = handler.handled;
        t.errors = handler.errors;
        if handler.latency.count > 0 {
            t.p50_us = Some(handler.latency.p50_us);
            t.p99_us = Some(handler.latency.p99_us);
        }
    }
    let types: Vec<TypeStats> = types.into_values().collect();
    let handler_p99_us = report
        .handlers
        .iter()
        .filter(|h| h.latency.count > 0)
        .map(|h| h.latency.p99_us)
        .max();
    let host = report.host.as_ref();
    InstanceStats {
        time_ms: u64::try_from(report.time_ms).unwrap_or(0),
        interval_s: u64::from(report.interval_s),
        in_per_s: types.iter().map(|t| t.in_per_s).sum(),
        out_per_s: types.iter().map(|t| t.out_per_s).sum(),
        errors: report.errors,
        retries: report.retries,
        dead_lettered: report.dead_lettered,
        rejected_by_validation: report.rejected_by_validation,
        reconnects: report.reconnects,
        handler_p99_us,
        confirm_p99_us: (report.confirm_latency.count > 0).then_some(report.confirm_latency.p99_us),
        cpu_pct: report.process_cpu_pct,
        rss_bytes: report.process_rss_bytes,
        host_cpu_pct: host.map(|h| h.cpu_pct),
        host_mem_used_bytes: host.map(|h| h.mem_used_bytes),
        host_mem_total_bytes: host.map(|h| h.mem_total_bytes),
        load_1m: host.map(|h| h.load_1m),
        types,
    }
}
