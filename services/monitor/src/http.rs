//! The dashboard over HTTP: the page and its assets (embedded at build time, nothing from a CDN),
//! the JSON API of [`crate::api`], server-sent events, and Prometheus `/metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use instadash_roads::RoadNetwork;
use instadash_schemas::alert::acknowledge::v1::Acknowledge;
use instadash_schemas::alert::acknowledge_reply::v1::AcknowledgeReply;
use instadash_schemas::vehicle::get_route::v1::GetRoute;
use instadash_schemas::vehicle::get_route_reply::v1::GetRouteReply;
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::api::{AckRequest, AckResponse, Fleet, RoadSegment, Roads, Route, RoutePoint};
use crate::fleet::word;
use crate::service::Shared;

/// How long the page waits for another service (trips, alerts) to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Assets;

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let app = Router::new()
        .route("/", get(|| asset(Path("index.html".to_owned()))))
        .route("/api/overview", get(overview))
        .route("/api/fleet", get(fleet))
        .route("/api/roads", get(roads))
        .route("/api/vehicles/{id}/route", get(route))
        .route("/api/alerts/{id}/ack", post(acknowledge))
        .route("/api/traces", get(crate::traces::journey))
        .route("/events", get(events))
        .route("/metrics", get(prometheus))
        .route("/healthz", get(|| async { "ok" }))
        .route("/{file}", get(asset))
        .with_state(shared);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(error) = served {
        warn!(%error, "the dashboard stopped serving");
    }
}

async fn asset(Path(path): Path<String>) -> Response {
    match Assets::get(&path) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
                // Revalidate, so an upgraded monitor never mixes old and new modules.
                (header::CACHE_CONTROL, "no-cache".to_owned()),
            ],
            file.data,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no asset {path}")).into_response(),
    }
}

async fn overview(State(shared): State<Arc<Shared>>) -> Json<Arc<crate::api::Overview>> {
    Json(shared.overview())
}

async fn fleet(State(shared): State<Arc<Shared>>) -> Json<Fleet> {
    let fleet = shared.fleet();
    Json(Fleet {
        time_ms: shared.overview().time_ms,
        vehicles: fleet.vehicles(),
        alerts: fleet.feed(),
    })
}

async fn roads() -> Json<Arc<Roads>> {
    static ROADS: std::sync::OnceLock<Arc<Roads>> = std::sync::OnceLock::new();
    Json(
        ROADS
            .get_or_init(|| {
                let city = RoadNetwork::city();
                let b = city.bounds();
                let point = |id| {
                    let node = city.node(id);
                    [node.lat, node.lon]
                };
                Arc::new(Roads {
                    bounds: [b.min_lat, b.min_lon, b.max_lat, b.max_lon],
                    segments: city
                        .edges()
                        .iter()
                        // Two-way roads are two edges; draw each road once.
                        .filter(|e| {
                            e.from < e.to
                                || !city
                                    .out_edges(e.to)
                                    .iter()
                                    .any(|r| city.edge(*r).to == e.from)
                        })
                        .map(|e| RoadSegment {
                            from: point(e.from),
                            to: point(e.to),
                            class: e.class.as_str().to_owned(),
                            speed_limit_kmh: e.speed_limit_kmh,
                        })
                        .collect(),
                })
            })
            .clone(),
    )
}

#[derive(Deserialize)]
struct RouteRange {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
}

async fn route(
    State(shared): State<Arc<Shared>>,
    Path(vehicle_id): Path<String>,
    Query(range): Query<RouteRange>,
) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let to_ms = range.to_ms.unwrap_or(now);
    let ask = GetRoute {
        vehicle_id: vehicle_id.clone(),
        from_ms: range.from_ms.unwrap_or(to_ms - 3_600_000),
        to_ms,
        max_points: Some(2_000),
    };
    match shared
        .bridge
        .request::<_, GetRouteReply>("trips", &ask, ASK_TIMEOUT)
        .await
    {
        Ok(reply) => Json(Route {
            vehicle_id,
            points: reply
                .points
                .iter()
                .map(|p| RoutePoint {
                    time_ms: u64::try_from(p.time_ms).unwrap_or(0),
                    lat: p.lat,
                    lon: p.lon,
                    speed_kmh: p.speed_kmh,
                })
                .collect(),
        })
        .into_response(),
        Err(error) => unavailable("the trips service", &error),
    }
}

async fn acknowledge(
    State(shared): State<Arc<Shared>>,
    Path(alert_id): Path<String>,
    Json(request): Json<AckRequest>,
) -> Response {
    let by = request.by.trim();
    if by.is_empty() || alert_id.trim().is_empty() {
        let why = "name the alert and say who acknowledges it (`by`)";
        return (StatusCode::BAD_REQUEST, why).into_response();
    }
    let ask = Acknowledge {
        alert_id: alert_id.clone(),
        acknowledged_by: by.to_owned(),
        note: None,
    };
    match shared
        .bridge
        .request::<_, AcknowledgeReply>("alerts", &ask, ASK_TIMEOUT)
        .await
    {
        Ok(reply) => {
            let alert = reply.alert.as_ref().map(|active| {
                let entry = shared.fleet().active(active, "");
                shared.tell("alert", &entry);
                entry
            });
            Json(AckResponse {
                outcome: word(&reply.outcome),
                alert,
            })
            .into_response()
        }
        Err(error) => unavailable("the alerts service", &error),
    }
}

pub(crate) fn unavailable(who: &str, error: &dyn std::fmt::Display) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        format!("{who} did not answer: {error}"),
    )
        .into_response()
}

async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // A page that falls behind skips what it missed (`Lagged`): the next overview and vehicle
    // batches carry the current state again. The stream ends when the monitor stops, so open
    // pages do not hold up a graceful shutdown.
    let stream = BroadcastStream::new(shared.pages.subscribe()).filter_map(|event| {
        event
            .ok()
            .map(|e| Ok(Event::default().event(e.name).data(&*e.data)))
    });
    let stream = futures_util::StreamExt::take_until(stream, shared.stop.clone().cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn prometheus() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    )
}
