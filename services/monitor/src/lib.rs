//! The operators' view of Instadash: every service's statistics over the bus and RabbitMQ's own
//! figures, gathered in memory (a rolling window); operator alerts of its own; the web dashboard
//! (fleet, bus, services, traces) with live updates; Prometheus metrics.
//!
//! Start with [`service::Monitor`]; [`api`] is what the page and `instadash top` read.

pub mod api;
mod broker;
pub mod cli;
mod fleet;
mod graph;
mod http;
mod metrics;
pub mod operator_alerts;
mod queues;
pub mod service;
mod service_book;
mod traces;
