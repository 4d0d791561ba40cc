//! The generated broker definitions on a real broker: imported into a private node, every service
//! runs under its own least-privilege user and does its job, and a service that publishes where
//! it has no right is refused with an error that says so, its channel unharmed.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use broker_bridge::management::enc;
use broker_bridge::testing::{PrivateNode, wait_until};
use broker_bridge::{Bridge, BridgeConfig, PublishError};
use instadash_schemas::Contract;
use instadash_schemas::alert::list_active::v1::ListActive;
use instadash_schemas::alert::list_active_reply::v1::ListActiveReply;
use instadash_schemas::alert::raised::v1::AlertRaised;
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;
use instadash_schemas::vehicle::list_vehicles::v1::ListVehicles;
use instadash_schemas::vehicle::list_vehicles_reply::v1::ListVehiclesReply;
use instadash_schemas::vehicle::position::v2::Position;
use instadash_tests::workspace_root;

const VHOST: &str = "instadash";
const SERVICES: [&str; 5] = ["tracker", "alerts", "trips", "dashcam", "monitor"];
const USERS: [&str; 8] = [
    "admin",
    "operator",
    "simulator",
    "tracker",
    "alerts",
    "trips",
    "dashcam",
    "monitor",
];

/// A private node holding the generated definitions, and every user's password.
struct Deployment {
    node: PrivateNode,
    passwords: tempfile::TempDir,
    instadash: escargot::CargoRun,
}

impl Deployment {
    async fn start() -> Deployment {
        let instadash = instadash_tests::build_instadash().await;
        let passwords = tempfile::tempdir().unwrap();
        for user in USERS {
            // Passwords with characters a URL must escape, as generated ones may have.
            let password = format!("{}/+{user}", uuid::Uuid::new_v4().simple());
            std::fs::write(passwords.path().join(user), format!("{password}\n")).unwrap();
        }
        let definitions = passwords.path().join("definitions.json");
        let output = instadash
            .command()
            .args(["deploy", "definitions", "--vhost", VHOST, "--passwords-dir"])
            .arg(passwords.path())
            .arg("--out")
            .arg(&definitions)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            instadash_tests::describe("deploy definitions", &output)
        );
        let text = std::fs::read_to_string(&definitions).unwrap();
        assert!(!text.contains("guest"), "no guest user in a deployment");
        let node = PrivateNode::start().await.expect("private node boots");
        // The broker reads the file as its own user.
        let readable =
            std::env::temp_dir().join(format!("instadash-definitions-{}.json", node.port()));
        std::fs::copy(&definitions, &readable).unwrap();
        node.ctl(&["import_definitions", readable.to_str().unwrap()])
            .await
            .expect("the generated definitions import");
        let _ = std::fs::remove_file(readable);
        Deployment {
            node,
            passwords,
            instadash,
        }
    }

    /// Where `user`'s password is, as a deployment mounts it (`AMQP_PASSWORD_FILE`).
    fn password_file(&self, user: &str) -> PathBuf {
        self.passwords.path().join(user)
    }

    /// The broker URL of `user`, without a password.
    fn url(&self, user: &str) -> String {
        format!("amqp://{user}@127.0.0.1:{}/{VHOST}", self.node.port())
    }

    /// The broker URL of `user` with `password` in it (percent-encoded).
    fn url_with(&self, user: &str, password: &str) -> String {
        format!(
            "amqp://{user}:{}@127.0.0.1:{}/{VHOST}",
            enc(password),
            self.node.port()
        )
    }

    async fn connect(&self, user: &str, service: &str) -> Bridge {
        let password = std::fs::read_to_string(self.password_file(user)).unwrap();
        let mut config = BridgeConfig::new(service);
        config.amqp_url = self.url_with(user, password.trim_end());
        Bridge::connect(config)
            .await
            .unwrap_or_else(|e| panic!("{user} connects as {service}: {e}"))
    }

    /// `instadash run <service>` as its own user; its log goes to `log`.
    fn run(&self, service: &str, args: &[&str], data: &Path, log: &Path) -> Running {
        let child = self
            .instadash
            .command()
            .args(["run", service])
            .args(args)
            .env("AMQP_URL", self.url(service))
            .env("AMQP_PASSWORD_FILE", self.password_file(service))
            .env("INSTADASH_DATA_DIR", data)
            .env("INSTADASH_MONITOR_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env_remove("INSTADASH_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Running {
            child,
            log: log.to_owned(),
        }
    }
}

struct Running {
    child: Child,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_service_does_its_job_under_its_own_user_and_nothing_more() {
    let mut deployment = Deployment::start().await;
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let scenario = workspace_root().join("services/simulator/scenarios/every-event.toml");
    let mut running: Vec<Running> = SERVICES
        .iter()
        .map(|service| deployment.run(service, &[], data.path(), &logs.path().join(service)))
        .collect();
    running.push(deployment.run(
        "simulator",
        &["--scenario", scenario.to_str().unwrap(), "--speedup", "10"],
        data.path(),
        &logs.path().join("simulator"),
    ));

    // The operators' tools see every service on the bus, under the operator's user.
    let operator = deployment.connect("operator", "instadash-cli").await;
    let directory = operator
        .directory()
        .await
        .expect("the operator follows the directory");
    let all_live = wait_until("every service live", Duration::from_secs(60), || {
        let live: Vec<String> = directory
            .instances()
            .into_iter()
            .map(|i| i.service)
            .collect();
        SERVICES
            .iter()
            .chain(["simulator"].iter())
            .all(|s| live.iter().any(|l| l == s))
    })
    .await;
    assert!(
        all_live.is_ok(),
        "every service announced itself: {}",
        logs_of(&running)
    );

    // Telemetry flows from the simulator to the tracker, which answers the operator.
    let mut tracked = false;
    for _ in 0..60 {
        let reply = operator
            .request::<_, ListVehiclesReply>(
                "tracker",
                &ListVehicles::default(),
                Duration::from_secs(5),
            )
            .await;
        if reply.is_ok_and(|reply| reply.vehicles.len() == 2) {
            tracked = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        tracked,
        "the tracker tracks both cars: {}",
        logs_of(&running)
    );
    let _: ListActiveReply = operator
        .request("alerts", &ListActive::default(), Duration::from_secs(5))
        .await
        .expect("alerts answer the operator");

    // The scripted panic button: the dashcam fetches the clip from the car and stores it.
    let clips = data.path().join("clips");
    let stored = wait_until("a stored clip", Duration::from_secs(90), || {
        std::fs::read_dir(&clips).is_ok_and(|mut entries| entries.next().is_some())
    })
    .await;
    assert!(
        stored.is_ok(),
        "the dashcam stored the clip: {}",
        logs_of(&running)
    );

    // Nothing any service did was refused.
    let refusals: Vec<String> = running
        .iter()
        .filter_map(|r| {
            let log = std::fs::read_to_string(&r.log).unwrap_or_default();
            log.contains("ACCESS_REFUSED")
                .then(|| format!("{}:\n{log}", r.log.display()))
        })
        .collect();
    assert!(refusals.is_empty(), "refused: {refusals:?}");

    // The simulator may not raise alerts: refused, named, and its next publish goes through.
    let simulator = deployment.connect("simulator", "simulator").await;
    let refused = simulator
        .publish(&AlertRaised::example())
        .await
        .expect("on the wire")
        .confirmed()
        .await;
    match refused {
        Err(PublishError::Refused {
            exchange,
            routing_key,
            reply,
        }) => {
            assert_eq!(exchange, "instadash.events");
            assert!(
                routing_key.starts_with("instadash.alert.raised."),
                "{routing_key}"
            );
            assert!(
                reply.contains("ACCESS_REFUSED") && reply.contains("simulator"),
                "{reply}"
            );
        }
        other => panic!("a forbidden publish must be refused, got {other:?}"),
    }
    simulator
        .publish(&Position::example())
        .await
        .unwrap()
        .confirmed()
        .await
        .expect("a permitted publish after the refusal goes through");

    // The tracker may not ask other services (no write on the services' exchange) ...
    let tracker = deployment.connect("tracker", "tracker").await;
    let refused = tracker
        .request::<_, ListActiveReply>("alerts", &ListActive::default(), Duration::from_secs(5))
        .await
        .expect_err("the tracker's request is refused");
    let text = refused.to_string();
    assert!(
        text.contains("instadash.services") && text.contains("ACCESS_REFUSED"),
        "the error names the exchange and the cause: {text}"
    );
    // ... nor make the dashcam's work queue.
    let refused = tracker
        .submit("dashcam-clips", &FetchClip::example())
        .await
        .expect_err("the tracker's job is refused");
    let text = refused.to_string();
    assert!(
        text.contains("instadash.work.dashcam-clips")
            && text.contains("refused for user 'tracker'"),
        "the error names the queue and the cause: {text}"
    );

    // Credentials are checked: a wrong password does not get in as the alerts service.
    let mut impostor = BridgeConfig::new("alerts");
    impostor.amqp_url = deployment.url_with("alerts", "wrong");
    let impostor = tokio::time::timeout(Duration::from_secs(10), Bridge::connect(impostor)).await;
    assert!(
        !matches!(impostor, Ok(Ok(_))),
        "a wrong password does not connect"
    );

    for bridge in [operator, simulator, tracker] {
        let _ = bridge.shutdown().await;
    }
    drop(running);
    deployment.node.stop().await.ok();
}

fn logs_of(running: &[Running]) -> String {
    running
        .iter()
        .map(|r| {
            let log = std::fs::read_to_string(&r.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("\n--- {} ---\n{}", r.log.display(), tail.join("\n"))
        })
        .collect()
}
