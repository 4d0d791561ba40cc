//! The trace view: an event's journey through the services. The monitor asks every instance
//! (`Bridge::ask_trace`) for the spans it holds of the event's trace — what it published, what it
//! handled, when and how long — and puts them together: one hop per message, parents before
//! children, each with its publisher and every handling of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use broker_bridge::span_log::{Span, SpanKind, TraceSpans, TraceTarget};
use serde::Deserialize;

use crate::api::{Handling, Hop, Journey};
use crate::fleet::word;
use crate::service::Shared;

/// How long the monitor waits for instances to answer.
const ANSWER_WAIT: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
pub(crate) struct Asked {
    event_id: Option<String>,
    vehicle_id: Option<String>,
}

/// `GET /api/traces?event_id=…` or `?vehicle_id=…` (that vehicle's newest event).
pub(crate) async fn journey(
    State(shared): State<Arc<Shared>>,
    Query(asked): Query<Asked>,
) -> Response {
    let (event_id, target) = match (asked.event_id, asked.vehicle_id) {
        (Some(event), _) if !event.trim().is_empty() => {
            let event = event.trim().to_owned();
            (event.clone(), TraceTarget::Event(event))
        }
        (_, Some(vehicle)) if !vehicle.trim().is_empty() => {
            let latest = shared.fleet().latest_event(vehicle.trim()).cloned();
            match latest {
                Some((event, Some(trace))) => (event, TraceTarget::Trace(trace)),
                Some((event, None)) => (event.clone(), TraceTarget::Event(event)),
                None => {
                    let message = format!("no event of vehicle {vehicle} seen yet");
                    return (StatusCode::NOT_FOUND, message).into_response();
                }
            }
        }
        _ => return (StatusCode::BAD_REQUEST, "give event_id or vehicle_id").into_response(),
    };
    let expected: Vec<String> = shared
        .overview()
        .services
        .iter()
        .flat_map(|s| {
            s.instances
                .iter()
                .filter(|i| i.health != crate::api::Health::Gone)
                .map(move |i| format!("{}/{}", s.name, i.instance))
        })
        .collect();
    let answers = match shared
        .bridge
        .ask_trace(target, Some(expected.len()), ANSWER_WAIT)
        .await
    {
        Ok(answers) => answers,
        Err(error) => return crate::http::unavailable("the bus", &error),
    };
    match assemble(&event_id, &answers, &expected) {
        Some(journey) => Json(journey).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!(
                "no instance holds spans of event {event_id} any more ({} answered); \
                 each keeps its most recent spans only",
                answers.len()
            ),
        )
            .into_response(),
    }
}

/// Puts the answers together into the journey of `event_id`'s trace; `None` if no answer holds it.
pub fn assemble(event_id: &str, answers: &[TraceSpans], expected: &[String]) -> Option<Journey> {
    let by = |a: &TraceSpans| format!("{}/{}", a.service, a.instance);
    let spans: Vec<(&Span, String)> = answers
        .iter()
        .flat_map(|a| a.spans.iter().map(move |s| (s, by(a))))
        .collect();
    let trace_id = spans
        .iter()
        .find(|(s, _)| s.event_id == event_id)
        .or_else(|| spans.first())
        .map(|(s, _)| s.trace_id.clone())?;

    let mut hops: BTreeMap<&str, Hop> = BTreeMap::new();
    for (span, who) in spans.iter().filter(|(s, _)| s.trace_id == trace_id) {
        let hop = hops.entry(&span.span_id).or_insert_with(|| Hop {
            span_id: span.span_id.clone(),
            event_id: span.event_id.clone(),
            r#type: span.type_.clone(),
            subject: span.subject.clone(),
            ..Hop::default()
        });
        match span.kind {
            SpanKind::Publish => {
                hop.parent_span_id.clone_from(&span.parent_span_id);
                hop.published_by = Some(who.clone());
                hop.published_us = u64::try_from(span.at_us).ok();
            }
            SpanKind::Handle => hop.handlings.push(Handling {
                by: who.clone(),
                queue: span.queue.clone().unwrap_or_default(),
                received_us: u64::try_from(span.at_us).unwrap_or(0),
                wait_us: None,
                handler_us: span.duration_us.unwrap_or(0),
                outcome: span.outcome.as_ref().map(word).unwrap_or_default(),
            }),
        }
    }
    for hop in hops.values_mut() {
        for handling in &mut hop.handlings {
            handling.wait_us = hop
                .published_us
                .map(|published| handling.received_us.saturating_sub(published));
        }
        hop.handlings.sort_by_key(|h| h.received_us);
    }

    // Depth-first from the roots (no parent, or a parent nobody holds any more), oldest first.
    let mut children: HashMap<Option<String>, Vec<Hop>> = HashMap::new();
    let known: Vec<String> = hops.keys().map(|k| (*k).to_owned()).collect();
    for hop in hops.into_values() {
        let parent = hop.parent_span_id.clone().filter(|p| known.contains(p));
        children.entry(parent).or_default().push(hop);
    }
    for list in children.values_mut() {
        list.sort_by_key(|h| {
            h.published_us
                .or(h.handlings.first().map(|x| x.received_us))
        });
    }
    let mut ordered = Vec::new();
    let mut stack: Vec<(Hop, u32)> = children
        .remove(&None)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|h| (h, 0))
        .collect();
    while let Some((mut hop, depth)) = stack.pop() {
        hop.depth = depth;
        if let Some(kids) = children.remove(&Some(hop.span_id.clone())) {
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
        ordered.push(hop);
    }
    let answered: Vec<String> = answers.iter().map(by).collect();
    let missing = expected
        .iter()
        .filter(|e| !answered.contains(e))
        .cloned()
        .collect();
    Some(Journey {
        trace_id,
        event_id: event_id.to_owned(),
        hops: ordered,
        answered,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use broker_bridge::span_log::SpanOutcome;

    use super::*;

    fn span(
        kind: SpanKind,
        span_id: &str,
        parent: Option<&str>,
        event: &str,
        t: &str,
        at_us: i64,
    ) -> Span {
        Span {
            kind,
            trace_id: "t".repeat(32),
            span_id: span_id.into(),
            parent_span_id: parent.map(str::to_owned),
            event_id: event.into(),
            type_: t.into(),
            subject: Some("car-1".into()),
            at_us,
            duration_us: (kind == SpanKind::Handle).then_some(40),
            queue: (kind == SpanKind::Handle).then(|| "instadash.events.x".to_owned()),
            exchange: None,
            routing_key: None,
            outcome: (kind == SpanKind::Handle).then_some(SpanOutcome::Handled),
        }
    }

    fn answer(service: &str, spans: Vec<Span>) -> TraceSpans {
        TraceSpans {
            query_id: "q".into(),
            service: service.into(),
            instance: "1".into(),
            spans,
            buffer_spans: 10,
            oldest_us: Some(0),
            truncated: false,
        }
    }

    #[test]
    fn a_position_its_alert_and_the_clip_job_form_one_tree_with_times_per_hop() {
        use SpanKind::{Handle, Publish};
        let answers = [
            answer(
                "simulator",
                vec![span(Publish, "a", None, "pos-1", "position", 1_000)],
            ),
            answer(
                "alerts",
                vec![
                    span(Handle, "a", None, "pos-1", "position", 1_300),
                    span(Publish, "b", Some("a"), "alert-1", "alert.raised", 1_400),
                ],
            ),
            answer(
                "dashcam",
                vec![
                    span(Handle, "b", None, "alert-1", "alert.raised", 1_900),
                    span(Handle, "a", None, "pos-1", "position", 1_200),
                ],
            ),
            answer("trips", vec![]),
        ];
        let expected = [
            "simulator/1",
            "alerts/1",
            "dashcam/1",
            "trips/1",
            "tracker/1",
        ]
        .map(String::from);
        let journey = assemble("alert-1", &answers, &expected).expect("held");
        let hops: Vec<_> = journey
            .hops
            .iter()
            .map(|h| (h.event_id.as_str(), h.depth, h.handlings.len()))
            .collect();
        assert_eq!(hops, [("pos-1", 0, 2), ("alert-1", 1, 1)]);
        let root = &journey.hops[0];
        assert_eq!(root.published_by.as_deref(), Some("simulator/1"));
        assert_eq!(root.handlings[0].by, "dashcam/1", "handlings in time order");
        assert_eq!(root.handlings[0].wait_us, Some(200));
        assert_eq!(journey.hops[1].handlings[0].wait_us, Some(500));
        assert_eq!(journey.hops[1].handlings[0].outcome, "handled");
        assert_eq!(journey.missing, ["tracker/1"]);
    }

    #[test]
    fn nobody_holding_the_event_is_none() {
        assert!(assemble("x", &[answer("tracker", vec![])], &[]).is_none());
    }
}
