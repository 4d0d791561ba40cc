//! W3C trace context: every message carries a `traceparent`; whatever a handler publishes continues
//! the trace of the message it is handling, so a request can be followed through every service.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use crate::envelope::Envelope;

tokio::task_local! {
    /// The span of the message whose handler is running on this task.
    static CURRENT: SpanContext;
}

/// Runs `fut` (a handler) inside `span`, the trace of the message it handles.
pub(crate) async fn scope<F: Future>(span: SpanContext, fut: F) -> F::Output {
    CURRENT.scope(span, fut).await
}

/// The span context of the message being handled on this task, if any.
pub fn current() -> Option<SpanContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The `traceparent` of the message being handled on this task, for work that publishes later,
/// elsewhere (an outbox): pass it to [`continue_trace`] then, and the trace goes on.
pub fn current_traceparent() -> Option<String> {
    current().map(|span| {
        format!(
            "00-{}-{}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8()
        )
    })
}

/// Runs `fut` in the trace of `traceparent` (from [`current_traceparent`]), as if handling that
/// message: what it publishes are children of it. Without one (or an invalid one), `fut` runs as
/// it is and what it publishes starts new traces.
pub async fn continue_trace<F: Future>(traceparent: Option<&str>, fut: F) -> F::Output {
    let carrier = Received {
        traceparent,
        tracestate: None,
    };
    let context = TraceContextPropagator::new().extract(&carrier);
    let span = context.span().span_context().clone();
    if span.is_valid() {
        scope(span, fut).await
    } else {
        fut.await
    }
}

/// The trace a received message belongs to; a message without a valid `traceparent` starts one.
pub(crate) fn incoming(envelope: &Envelope) -> SpanContext {
    let carrier = Received {
        traceparent: envelope.traceparent.as_deref(),
        tracestate: envelope.tracestate.as_deref(),
    };
    let context = TraceContextPropagator::new().extract(&carrier);
    let span = context.span().span_context().clone();
    if span.is_valid() {
        span
    } else {
        new_span(None)
    }
}

/// The ids of a span as the span log keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanIds {
    pub trace_id: u128,
    pub span_id: u64,
    /// The span of the message being handled when this one was made; 0 for none (an all-zero span
    /// id is invalid in W3C trace context, so it never names a real span).
    pub parent_span_id: u64,
}

impl SpanIds {
    /// The ids of `span`, without a parent.
    pub(crate) fn of(span: &SpanContext) -> Self {
        Self {
            trace_id: u128::from_be_bytes(span.trace_id().to_bytes()),
            span_id: u64::from_be_bytes(span.span_id().to_bytes()),
            parent_span_id: 0,
        }
    }
}

/// Fills `traceparent`/`tracestate` of an outgoing envelope: a new span, child of the message being
/// handled when there is one, else the root of a new trace. Returns the new span's ids.
pub(crate) fn stamp(envelope: &mut Envelope) -> SpanIds {
    let parent = current();
    let span = new_span(parent.as_ref());
    let ids = SpanIds {
        parent_span_id: parent
            .as_ref()
            .map_or(0, |p| u64::from_be_bytes(p.span_id().to_bytes())),
        ..SpanIds::of(&span)
    };
    // The W3C format the propagator writes, formatted directly: this runs for every message sent.
    envelope.traceparent = Some(format!(
        "00-{}-{}-{:02x}",
        span.trace_id(),
        span.span_id(),
        span.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8()
    ));
    let state = span.trace_state().header();
    envelope.tracestate = (!state.is_empty()).then_some(state);
    ids
}

fn new_span(parent: Option<&SpanContext>) -> SpanContext {
    let ids = RandomIdGenerator::default();
    let (trace_id, flags, state) = match parent {
        Some(p) => (p.trace_id(), p.trace_flags(), p.trace_state().clone()),
        None => (
            ids.new_trace_id(),
            TraceFlags::SAMPLED,
            TraceState::default(),
        ),
    };
    SpanContext::new(trace_id, ids.new_span_id(), flags, false, state)
}

/// The trace headers of a received message, borrowed.
struct Received<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Received<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The trace id of a `traceparent` header (its second field).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publishes_inside_a_handler_continue_its_trace() {
        let mut root = Envelope::new("t.v1", "/a/1");
        stamp(&mut root);
        let root_parent = root.traceparent.clone().expect("stamped");
        assert!(root_parent.starts_with("00-") && root_parent.ends_with("-01"));
        // What we write is what the OpenTelemetry propagator reads.
        let extracted = incoming(&root);
        assert_eq!(
            format!("{}", extracted.trace_id()),
            trace_id(&root_parent).unwrap_or_default()
        );
        assert!(extracted.is_remote());

        let root_ids = SpanIds::of(&incoming(&root));
        let (child, child_ids) = scope(incoming(&root), async {
            let mut child = Envelope::new("t.v1", "/b/1");
            let ids = stamp(&mut child);
            (child, ids)
        })
        .await;
        // The ids the span log keeps are those on the wire.
        assert_eq!(child_ids.trace_id, root_ids.trace_id);
        assert_eq!(child_ids.parent_span_id, root_ids.span_id);
        assert_eq!(
            child_ids,
            SpanIds {
                parent_span_id: root_ids.span_id,
                ..SpanIds::of(&incoming(&child))
            }
        );
        assert_eq!(
            trace_id(&root_parent),
            Some(format!("{:032x}", root_ids.trace_id).as_str())
        );
        let child_parent = child.traceparent.expect("stamped");
        assert_eq!(trace_id(&child_parent), trace_id(&root_parent));
        assert_ne!(child_parent, root_parent, "a new span id for each hop");

        // Later, from an outbox: the same trace, a child of the message that was handled.
        let handled = scope(incoming(&root), async { current_traceparent() }).await;
        assert_eq!(handled.as_deref(), Some(root_parent.as_str()));
        let later = continue_trace(handled.as_deref(), async {
            let mut later = Envelope::new("t.v1", "/c/1");
            stamp(&mut later);
            (later, current().map(|s| s.span_id()))
        })
        .await;
        let later_parent = later.0.traceparent.expect("stamped");
        assert_eq!(trace_id(&later_parent), trace_id(&root_parent));
        assert_eq!(
            later.1.map(|id| id.to_string()).as_deref(),
            root_parent.split('-').nth(2),
            "published as a child of the handled message"
        );
        assert!(current_traceparent().is_none(), "nothing handled here");

        let mut unrelated = Envelope::new("t.v1", "/a/1");
        stamp(&mut unrelated);
        assert_ne!(
            trace_id(unrelated.traceparent.as_deref().unwrap_or_default()),
            trace_id(&root_parent)
        );
    }
}
