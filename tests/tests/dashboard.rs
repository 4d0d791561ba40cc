//! The operators' dashboard in a real browser: `instadash up` runs every service and the
//! simulator's every-event scenario in a vhost of its own, and `tests/browser/dashboard.test.mjs`
//! (node's test runner, playwright-core driving Debian's headless Chromium) checks what an operator
//! sees: the page works offline, cars move on the map, the scripted harsh brake shows up and is
//! acknowledged through the alerts service, and the bus, services and trace views show the
//! platform.
//!
//! The browser and the npm packages come from `scripts/browser-env`. If it cannot set them up, the
//! test fails with the set-up's output: it never skips.
//!
//! Artifacts: the screenshots of each view (fleet.png, alerts.png, bus.png, services.png,
//! trace.png) are left in `target/browser-artifacts/`, with `up`'s stderr (up.stderr.log), for a
//! person to look at after the run; the test prints their paths. Each run replaces them.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use broker_bridge::testing::TestVhost;
use instadash_tests::{describe, set_up, workspace_root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// Simulated seconds per wall-clock second. The every-event scenario brakes hard 55 simulated
/// seconds in (car-e: 10 s idling, then 45 s into its drive), 28 s after the start here, and ends
/// after about 260 simulated seconds (`up` then stops by itself), over two minutes here: time
/// enough for the browser's checks, which take well under a minute.
const SPEEDUP: &str = "2";
/// How long `up` may take to serve its dashboard.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the browser's checks may take (each of their waits is bounded on its own).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(240);
/// How long `up` may take to stop after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// What the browser test leaves in the artifacts directory.
const SCREENSHOTS: [&str; 5] = [
    "fleet.png",
    "alerts.png",
    "bus.png",
    "services.png",
    "trace.png",
];

/// The workspace's target directory (CARGO_TARGET_DIR when set, as cargo has it).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// A free port on the loopback interface (the OS's choice, released again at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free localhost port")
        .port()
}

/// `GET /healthz` answers `ok`.
async fn healthy(addr: &str) -> bool {
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        Ok::<_, std::io::Error>(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ask).await,
        Ok(Ok(true))
    )
}

/// The `instadash up` process; killed when dropped, so a failing test leaves nothing behind.
struct Up {
    child: Child,
    stderr: PathBuf,
}

impl Up {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr)
            .unwrap_or_else(|error| format!("(cannot read {}: {error})", self.stderr.display()))
    }

    /// Panics, with `up`'s stderr, if it has exited already.
    fn assert_running(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().expect("up's status can be read") {
            panic!(
                "instadash up exited {when} ({status})\n--- up's stderr ---\n{}",
                self.stderr()
            );
        }
    }

    /// Stops `up` as an operator would (Ctrl-C), or kills it when it does not stop in time.
    async fn stop(&mut self) -> Result<ExitStatus, String> {
        let pid = self.child.id().expect("a running child has a pid");
        let pid = libc::pid_t::try_from(pid).unwrap();
        // SAFETY: kill(2) touches no memory of ours; the pid is our child, not reaped yet (its
        // status was last read while it ran), so it cannot name another process.
        let result = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(
            result,
            0,
            "kill({pid}, SIGINT): {}",
            std::io::Error::last_os_error()
        );
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => Ok(status.expect("up's exit status")),
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                Err(format!(
                    "instadash up did not stop within {STOP_TIMEOUT:?} of SIGINT and was killed"
                ))
            }
        }
    }
}

/// Chromium and the npm packages, set up by `scripts/browser-env` if needed; chromium's path.
async fn browser_env() -> PathBuf {
    tokio::task::spawn_blocking(|| set_up("scripts/browser-env"))
        .await
        .expect("the set-up finishes")
}

#[tokio::test]
async fn an_operator_sees_the_fleet_acknowledges_an_alert_and_inspects_bus_services_and_traces() {
    let root = workspace_root();
    let scenarios = root.join("services/simulator/scenarios");
    let scenario = scenarios.join("every-event.toml");
    let artifacts = target_dir().join("browser-artifacts");
    // This run's artifacts only.
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("the artifacts directory can be made");

    let setup = Instant::now();
    let instadash = instadash_tests::build_instadash().await;
    eprintln!("instadash built in {:.1} s", setup.elapsed().as_secs_f64());
    let setup = Instant::now();
    let chromium = browser_env().await;
    eprintln!(
        "browser environment ready in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let vhost = TestVhost::create().await.expect("a test vhost");
    let data = tempfile::tempdir().expect("a temporary data directory");
    let addr = format!("127.0.0.1:{}", free_port());

    let stderr = artifacts.join("up.stderr.log");
    let mut command = Command::from(instadash.command());
    command
        .current_dir(root)
        .arg("up")
        .arg("--scenario")
        .arg(&scenario)
        // The scenario's geofences and short idling threshold, as tests/tests/platform.rs uses.
        .arg("--alerts-config")
        .arg(scenarios.join("every-event.alerts.toml"))
        .args(["--speedup", SPEEDUP, "--listen", &addr])
        .arg("--data-dir")
        .arg(data.path())
        .env("AMQP_URL", vhost.amqp_url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("up's stderr file"))
        .kill_on_drop(true);
    if let Ok(management) = std::env::var("RABBITMQ_MANAGEMENT_URL") {
        command.env("RABBITMQ_MANAGEMENT_URL", management);
    }
    let started = Instant::now();
    let mut up = Up {
        child: command.spawn().expect("instadash up starts"),
        stderr,
    };

    let deadline = started + START_TIMEOUT;
    while !healthy(&addr).await {
        up.assert_running("before it served its dashboard");
        assert!(
            Instant::now() < deadline,
            "http://{addr}/healthz did not answer within {START_TIMEOUT:?}\n--- up's stderr ---\n{}",
            up.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let url = format!("http://{addr}/");
    eprintln!(
        "dashboard on {url} after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut node = Command::new("node");
    node.current_dir(root)
        .args([
            "--test",
            "--test-reporter=spec",
            "tests/browser/dashboard.test.mjs",
        ])
        .env("DASHBOARD_URL", &url)
        .env("SCREENSHOT_DIR", &artifacts)
        .env("SCENARIO", &scenario)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let browser_started = Instant::now();
    let node = tokio::time::timeout(BROWSER_TIMEOUT, node.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the browser test did not finish within {BROWSER_TIMEOUT:?}\n--- up's stderr ---\n{}",
                up.stderr()
            )
        })
        .expect("node can be started (Node 20 or newer is needed)");
    let node_report = describe("node --test tests/browser/dashboard.test.mjs", &node);
    eprintln!(
        "browser checks took {:.1} s\n{node_report}",
        browser_started.elapsed().as_secs_f64()
    );

    // The same platform from a terminal, and the Grafana dashboard's metrics against the live
    // `/metrics` (and RabbitMQ's own), while everything still runs.
    let top = operator_terminal(&instadash, &url).await;
    let grafana = grafana_check(root, &addr).await;

    // `up` must still be serving: it stops by itself when the scenario ends, and the checks would
    // then have looked at a dashboard going away.
    up.assert_running("while the browser test ran (the scenario ended? lower the speedup)");
    let stopped = up.stop().await;
    let up_stderr = up.stderr();
    assert!(
        node.status.success(),
        "the browser test failed\n{node_report}\n--- up's stderr ---\n{up_stderr}"
    );
    top.unwrap_or_else(|why| panic!("{why}"));
    grafana.unwrap_or_else(|why| panic!("{why}"));
    let status = stopped.unwrap_or_else(|why| panic!("{why}\n--- up's stderr ---\n{up_stderr}"));
    assert!(
        status.success(),
        "instadash up did not exit cleanly after SIGINT: {status}\n--- up's stderr ---\n{up_stderr}"
    );

    eprintln!("artifacts (screenshots of each view, up's stderr):");
    for name in SCREENSHOTS {
        let file = artifacts.join(name);
        assert!(
            file.is_file(),
            "the browser test left no {}",
            file.display()
        );
        eprintln!("  {}", file.display());
    }
    eprintln!("  {}", up.stderr.display());
    eprintln!("whole test: {:.1} s", started.elapsed().as_secs_f64());
}

/// `instadash top --once` against the running monitor: one plain frame with the platform's queues
/// and services.
async fn operator_terminal(instadash: &escargot::CargoRun, url: &str) -> Result<(), String> {
    let output = Command::from(instadash.command())
        .args(["top", "--once", "--width", "160", "--monitor-url", url])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| format!("instadash top cannot be started: {error}"))?;
    let report = describe("instadash top --once", &output);
    let frame = String::from_utf8_lossy(&output.stdout);
    let expected = [
        "instadash.events.tracker",
        "instadash.events.alerts",
        "tracker",
        "monitor",
    ];
    match expected.iter().find(|word| !frame.contains(*word)) {
        _ if !output.status.success() => Err(format!("instadash top failed\n{report}")),
        Some(missing) => Err(format!("instadash top's frame lacks {missing}\n{report}")),
        None => Ok(()),
    }
}

/// `deploy/grafana/check.py`: every metric the Grafana dashboard queries exists on the monitor's
/// live `/metrics` (waiting for the first reports) and on RabbitMQ's Prometheus endpoint.
async fn grafana_check(root: &Path, addr: &str) -> Result<(), String> {
    let rabbitmq = std::env::var("RABBITMQ_PROMETHEUS_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:15692".to_owned());
    let output = Command::new("python3")
        .current_dir(root)
        .arg("deploy/grafana/check.py")
        .arg(format!("http://{addr}/metrics"))
        .args(["--wait", "60", "--rabbitmq", &rabbitmq])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| format!("python3 cannot be started: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the Grafana dashboard queries metrics nobody exports\n{}",
            describe("deploy/grafana/check.py", &output)
        ))
    }
}
