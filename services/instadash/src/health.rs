//! Liveness and readiness over HTTP for `instadash run <service>`, so any orchestrator (Docker,
//! Compose, Kubernetes, systemd) can probe one service the same way.
//!
//! | endpoint | 200 when | otherwise |
//! |---|---|---|
//! | `GET /healthz` | the process and its async runtime answer | no answer at all |
//! | `GET /readyz` | the service has started (its consumers run), its broker link is connected, and it is not shutting down | 503 with `{"ready":false,"reason":...}` |
//!
//! Liveness deliberately ignores the broker: during a broker outage every service is waiting for
//! the same thing, and restarting them all would only add a thundering herd to the recovery. Only
//! readiness follows the link, so traffic and dependants can wait.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use broker_bridge::LinkState;
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::warn;

/// How long the health server may take to finish open requests once the service has stopped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// Serve GET /healthz (liveness) and GET /readyz (readiness) on this address, e.g.
    /// 0.0.0.0:8081 in a container (port 0: any free port; default: no health endpoints).
    #[arg(long, env = "INSTADASH_HEALTH_LISTEN", global = true)]
    pub health_listen: Option<SocketAddr>,
}

/// Where the service is in its life, as readiness sees it.
#[derive(Debug, Clone)]
enum Phase {
    /// Connecting, declaring, starting consumers.
    Starting,
    /// Started: ready exactly while the link is connected.
    Running(watch::Receiver<LinkState>),
    /// Shutdown requested: no longer ready, though still alive while it drains.
    Stopping,
}

/// The health endpoints of this process (or nothing, when not asked for). Cheap to mark: the
/// service's life calls [`started`](Self::started) and [`stopping`](Self::stopping).
pub struct Health {
    phase: Arc<Mutex<Phase>>,
    server: Option<Server>,
}

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Health {
    /// Starts serving on `listen` (if given) at once, before the broker is reached, so liveness
    /// answers while the service is still connecting. Fails if the address cannot be bound.
    pub async fn serve(listen: Option<SocketAddr>) -> anyhow::Result<Self> {
        let phase = Arc::new(Mutex::new(Phase::Starting));
        let Some(listen) = listen else {
            return Ok(Self {
                phase,
                server: None,
            });
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening for health probes on {listen}"))?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(phase.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                warn!(%error, "the health endpoints stopped serving");
            }
        });
        Ok(Self {
            phase,
            server: Some(Server { addr, stop, task }),
        })
    }

    /// Where the endpoints are served (the bound port when asked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(|server| server.addr)
    }

    /// The service has started: from now on it is ready exactly while `link` says connected.
    pub fn started(&self, link: watch::Receiver<LinkState>) {
        self.set(Phase::Running(link));
    }

    /// Shutdown was requested: readiness turns 503 first, before the service starts draining.
    pub fn stopping(&self) {
        self.set(Phase::Stopping);
    }

    /// Stops serving, once the service has stopped (liveness answers for as long as it drains).
    pub async fn close(self) {
        let Some(Server { stop, mut task, .. }) = self.server else {
            return;
        };
        let _ = stop.send(());
        // A prober holding a connection open must not delay the exit.
        if tokio::time::timeout(CLOSE_TIMEOUT, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
    }
}

/// The body of both endpoints; `reason` only when not ready.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Answer {
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

async fn healthz() -> (StatusCode, &'static str) {
    // Answering at all is the proof: the handler runs on the same runtime as the service.
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(phase): State<Arc<Mutex<Phase>>>) -> (StatusCode, Json<Answer>) {
    let phase = phase.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let answer = readiness(&phase);
    let status = if answer.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(answer))
}

/// Whether `phase` is ready, and if not, why, in an operator's words.
fn readiness(phase: &Phase) -> Answer {
    let reason = match phase {
        Phase::Starting => Some("starting"),
        Phase::Stopping => Some("shutting down"),
        Phase::Running(link) => match *link.borrow() {
            LinkState::Connected => None,
            LinkState::Connecting => Some("broker link connecting"),
            LinkState::Recovering => Some("broker link recovering"),
            LinkState::Closed => Some("broker link closed"),
        },
    };
    Answer {
        ready: reason.is_none(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_ready(reason: &'static str) -> Answer {
        Answer {
            ready: false,
            reason: Some(reason),
        }
    }

    #[test]
    fn ready_only_while_started_and_connected() {
        assert_eq!(readiness(&Phase::Starting), not_ready("starting"));
        let (link, receiver) = watch::channel(LinkState::Connecting);
        let running = Phase::Running(receiver);
        assert_eq!(readiness(&running), not_ready("broker link connecting"));
        link.send_replace(LinkState::Connected);
        assert_eq!(
            readiness(&running),
            Answer {
                ready: true,
                reason: None
            }
        );
        link.send_replace(LinkState::Recovering);
        assert_eq!(readiness(&running), not_ready("broker link recovering"));
        link.send_replace(LinkState::Closed);
        assert_eq!(readiness(&running), not_ready("broker link closed"));
        assert_eq!(readiness(&Phase::Stopping), not_ready("shutting down"));
    }

    #[test]
    fn the_body_names_the_reason_only_when_not_ready() {
        let json = |answer| serde_json::to_string(&answer).unwrap();
        assert_eq!(
            json(Answer {
                ready: true,
                reason: None
            }),
            r#"{"ready":true}"#
        );
        assert_eq!(
            json(not_ready("broker link recovering")),
            r#"{"ready":false,"reason":"broker link recovering"}"#
        );
    }

    #[tokio::test]
    async fn the_endpoints_answer_over_http_and_readiness_turns_first_when_stopping() {
        let health = Health::serve(Some("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
        let addr = health.local_addr().unwrap();
        let get = |path: &'static str| {
            tokio::task::spawn_blocking(move || {
                let response = ureq::get(format!("http://{addr}{path}"))
                    .config()
                    .http_status_as_error(false)
                    .build()
                    .call()
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.into_body().read_to_string().unwrap())
            })
        };
        assert_eq!(get("/healthz").await.unwrap().0, 200);
        assert_eq!(
            get("/readyz").await.unwrap(),
            (503, r#"{"ready":false,"reason":"starting"}"#.to_owned())
        );
        let (_link, receiver) = watch::channel(LinkState::Connected);
        health.started(receiver);
        assert_eq!(
            get("/readyz").await.unwrap(),
            (200, r#"{"ready":true}"#.to_owned())
        );
        health.stopping();
        assert_eq!(get("/readyz").await.unwrap().0, 503);
        assert_eq!(
            get("/healthz").await.unwrap().0,
            200,
            "alive while draining"
        );
        health.close().await;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "closed after the service stopped"
        );
    }
}
