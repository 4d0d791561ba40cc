//! The probes an orchestrator uses: `instadash run <service> --health-listen ADDR` serves
//! `/healthz` and `/readyz` through the service's life, and `instadash probe URL` turns them into
//! an exit status.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use broker_bridge::testing::PrivateNode;

/// Kills the process if the test fails before it stops.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `instadash run <service>` with health endpoints on a free port, and returns it with the
/// port it bound (read from its log, so no port is guessed). Its log is passed on to the test's.
fn spawn_with_health(
    service: &str,
    amqp_url: &str,
    data_dir: &std::path::Path,
) -> (Running, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_instadash"))
        .args(["run", service, "--health-listen", "127.0.0.1:0"])
        .env("AMQP_URL", amqp_url)
        .env("INSTADASH_DATA_DIR", data_dir)
        // Back soon after the broker is.
        .env("INSTADASH_RECONNECT_MIN_MS", "100")
        .env("INSTADASH_RECONNECT_MAX_MS", "500")
        .env("RUST_LOG", "info")
        .env_remove("INSTADASH_LOG_JSON")
        .env_remove("INSTADASH_HEALTH_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("instadash starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (found, address) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[instadash] {line}");
            if let Some((_, rest)) = line.split_once("health endpoints on http://") {
                let addr = rest.split('/').next().unwrap_or_default().to_owned();
                let _ = found.send(addr);
            }
        }
    });
    let running = Running(child);
    let addr = address
        .recv_timeout(Duration::from_secs(20))
        .expect("the service says where its health endpoints are");
    (running, addr.parse().expect("an address in the log"))
}

/// GET `url`: the status and the body, or `None` when nothing answers.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let url = format!("http://{addr}{path}");
    tokio::task::spawn_blocking(move || {
        let mut response = ureq::get(&url)
            .config()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
            .ok()?;
        let body = response.body_mut().read_to_string().ok()?;
        Some((response.status().as_u16(), body))
    })
    .await
    .expect("the request thread ran")
}

/// Polls `path` every 20 ms until `wanted` holds for an answer, or `timeout` passes.
async fn wait_for(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    wanted: impl Fn(&(u16, String)) -> bool,
) -> Result<(u16, String), String> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        last = get(addr, path).await;
        if let Some(answer) = &last
            && wanted(answer)
        {
            return Ok(answer.clone());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("{path} after {timeout:?}, last answer {last:?}"))
}

/// A private broker node, so the broker can really go away (never the shared one) and stay away
/// for as long as the test looks: the link is then "recovering" for certain, not for a moment.
#[tokio::test]
async fn a_service_is_alive_throughout_and_ready_only_while_its_broker_link_is_up() {
    let mut node = PrivateNode::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let (mut tracker, addr) = spawn_with_health("tracker", &node.amqp_url(), data.path());

    let ready = wait_for(addr, "/readyz", Duration::from_secs(30), |(s, _)| *s == 200)
        .await
        .expect("the tracker becomes ready");
    assert_eq!(ready.1, r#"{"ready":true}"#);
    let alive = get(addr, "/healthz").await.expect("liveness answers");
    assert_eq!(alive.0, 200);

    // The broker goes down: readiness says so for as long as the link recovers; liveness does
    // not (restarting the service would not bring the broker back sooner).
    node.stop().await.unwrap();
    let recovering = wait_for(addr, "/readyz", Duration::from_secs(10), |(s, _)| *s != 200)
        .await
        .expect("readiness turns when the broker is gone");
    let expected = (
        503,
        r#"{"ready":false,"reason":"broker link recovering"}"#.to_owned(),
    );
    assert_eq!(recovering, expected);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        get(addr, "/readyz").await,
        Some(expected),
        "still not ready"
    );
    assert_eq!(get(addr, "/healthz").await.map(|a| a.0), Some(200));

    // What a container health check runs: not ready now ...
    let url = format!("http://{addr}/readyz");
    let probe = common::instadash(&["probe", &url], "").await;
    assert_eq!(probe.status.code(), Some(1));

    // ... and ready again once the broker is back and the link has recovered.
    node.restart().await.unwrap();
    wait_for(addr, "/readyz", Duration::from_secs(30), |(s, _)| *s == 200)
        .await
        .expect("ready again once the link has recovered");
    let probe = common::instadash(&["probe", &url], "").await;
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );

    // SIGTERM: a graceful stop with exit status 0, and the endpoints gone with the process.
    let pid = tracker.0.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || tracker.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "a clean exit on SIGTERM: {status}");
    assert_eq!(get(addr, "/healthz").await, None);
}

#[tokio::test]
async fn probe_exits_non_zero_with_one_line_saying_what_came_back() {
    // Not ready: the readiness endpoint of a service still waiting for a broker that is not there.
    let unreachable = "amqp://nobody:nothing@127.0.0.1:9/none";
    let data = tempfile::tempdir().unwrap();
    let (_service, addr) = spawn_with_health("trips", unreachable, data.path());

    let alive = common::instadash(&["probe", &format!("http://{addr}/healthz")], "").await;
    assert!(
        alive.status.success(),
        "alive while waiting for the broker: {}",
        String::from_utf8_lossy(&alive.stderr)
    );
    let url = format!("http://{addr}/readyz");
    let not_ready = common::instadash(&["probe", &url], "").await;
    let stderr = String::from_utf8_lossy(&not_ready.stderr);
    assert_eq!(not_ready.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(r#"probe {url}: 503 Service Unavailable: {{"ready":false,"reason":"starting"}}"#)
    );

    // Nothing listening at all.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}/healthz", free.local_addr().unwrap());
    drop(free);
    let refused = common::instadash(&["probe", &nobody, "--timeout-s", "1"], "").await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with(&format!("probe {nobody}: no answer")),
        "{stderr}"
    );
}
