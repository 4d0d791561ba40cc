//! `instadash.platform.trace-spans`: one instance's answer to a `trace-query`, the spans it keeps
//! of the trace (messages it published, deliveries it handled), possibly none.

/// Version 1.
pub mod v1 {
    use serde::{Deserialize, Serialize};

    use crate::contract;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TraceSpans {
        pub query_id: String,
        pub service: String,
        pub instance: String,
        /// Oldest first.
        pub spans: Vec<Span>,
        /// Spans the instance keeps now, of any trace.
        pub buffer_spans: u64,
        /// Time of the oldest span it keeps, µs since the Unix epoch.
        #[serde(default)]
        pub oldest_us: Option<i64>,
        /// Spans were left out to keep the answer within its size limit.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub truncated: bool,
    }

    /// A message the instance published, or a delivery it handled.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Span {
        pub kind: SpanKind,
        pub trace_id: String,
        pub span_id: String,
        /// Publish: the span of the message being handled when it was sent.
        #[serde(default)]
        pub parent_span_id: Option<String>,
        pub event_id: String,
        #[serde(rename = "type")]
        pub type_: String,
        #[serde(default)]
        pub subject: Option<String>,
        /// Publish: when sent; handle: when it arrived. µs since the Unix epoch.
        pub at_us: i64,
        /// Handle: the handler's run time, µs.
        #[serde(default)]
        pub duration_us: Option<u64>,
        /// Handle: the queue it came from.
        #[serde(default)]
        pub queue: Option<String>,
        /// Publish: the exchange it went to.
        #[serde(default)]
        pub exchange: Option<String>,
        /// Publish: its routing key.
        #[serde(default)]
        pub routing_key: Option<String>,
        /// Handle: what became of the delivery.
        #[serde(default)]
        pub outcome: Option<SpanOutcome>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum SpanKind {
        Publish,
        Handle,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum SpanOutcome {
        Handled,
        Failed,
        Retried,
        DeadLettered,
        Rejected,
        Duplicate,
    }

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const EVENT: &str = "01a2014c-efe3-7651-8879-74c559175d3c";

    contract! {
        TraceSpans {
            type: "instadash.platform.trace-spans",
            version: 1,
            file: "platform/trace-spans",
            encodings: [Json],
            subject: service,
            example: TraceSpans {
                query_id: "01a2014c-f1d2-7c3e-9a51-3c0d8e2b4f61".into(),
                service: "alerts".into(),
                instance: "01a2014c-e0a1-7b22-8c40-5d1e2f3a4b5c".into(),
                spans: vec![
                    Span {
                        kind: SpanKind::Handle,
                        trace_id: TRACE.into(),
                        span_id: "00f067aa0ba902b7".into(),
                        parent_span_id: None,
                        event_id: EVENT.into(),
                        type_: "instadash.vehicle.position".into(),
                        subject: Some("car-0042".into()),
                        at_us: crate::EXAMPLE_TIME_MS * 1_000 + 2_310,
                        duration_us: Some(84),
                        queue: Some("instadash.events.alerts".into()),
                        exchange: None,
                        routing_key: None,
                        outcome: Some(SpanOutcome::Handled),
                    },
                    Span {
                        kind: SpanKind::Publish,
                        trace_id: TRACE.into(),
                        span_id: "b7ad6b7169203331".into(),
                        parent_span_id: Some("00f067aa0ba902b7".into()),
                        event_id: "01a2014c-efe9-7e0f-b2a4-0c9d1f7e6a55".into(),
                        type_: "instadash.alert.raised".into(),
                        subject: Some("car-0042".into()),
                        at_us: crate::EXAMPLE_TIME_MS * 1_000 + 2_361,
                        duration_us: None,
                        queue: None,
                        exchange: Some("instadash.events".into()),
                        routing_key: Some("instadash.alert.raised.car-0042".into()),
                        outcome: None,
                    },
                ],
                buffer_spans: 20_000,
                oldest_us: Some(crate::EXAMPLE_TIME_MS * 1_000 - 95_000_000),
                truncated: false,
            },
        }
    }
}
