//! The deployment files pass their static checks (`deploy/check.py`): `compose config` on
//! deploy/compose.yaml, hadolint and our rules on the Dockerfile, and every Kubernetes manifest
//! of deploy/k8s against the Kubernetes API schemas and the custom resources' schemas
//! (deploy/k8s/schemas/), plus our rules (probes, resources, security context, credentials,
//! references). And the checker can fail: broken copies of the manifests are caught, each with
//! the file, document, resource and problem named.
//!
//! The tools come from `scripts/deploy-env` (a venv under `target/`, Debian's docker-compose). If
//! they cannot be set up, the tests fail with the set-up's output: they never skip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use instadash_tests::{describe, set_up, workspace_root};

/// The venv's python, set up by `scripts/deploy-env` if needed.
fn python() -> PathBuf {
    set_up("scripts/deploy-env")
}

/// Runs `deploy/check.py` with `args`.
fn check(python: &Path, args: &[&str]) -> Output {
    Command::new(python)
        .arg(workspace_root().join("deploy/check.py"))
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .expect("deploy/check.py starts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of deploy/k8s whose topology.yaml is the sample of every topology kind
/// (deploy/k8s/schemas/examples/topology.sample.yaml), so these checks do not depend on the
/// generated topology.
fn k8s_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let k8s = workspace_root().join("deploy/k8s");
    copy_dir(&k8s, dir.path());
    fs::copy(
        k8s.join("schemas/examples/topology.sample.yaml"),
        dir.path().join("topology.yaml"),
    )
    .unwrap();
    dir
}

fn edit(dir: &Path, file: &str, change: impl FnOnce(String) -> String) {
    let path = dir.join(file);
    let before = fs::read_to_string(&path).unwrap();
    let after = change(before.clone());
    assert_ne!(before, after, "the edit of {file} changed nothing");
    fs::write(path, after).unwrap();
}

/// `text` without the YAML block that starts at the line `header` (the header and every
/// following line indented deeper than it).
fn without_block(text: &str, header: &str) -> String {
    let indent = header.len() - header.trim_start().len();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line == header {
            skipping = true;
            continue;
        }
        if skipping && (line.len() - line.trim_start().len() > indent || line.trim().is_empty()) {
            continue;
        }
        skipping = false;
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn every_deployment_file_passes_the_checks() {
    let python = python();
    let output = check(&python, &[]);
    let shown = describe("deploy/check.py", &output);
    assert!(output.status.success(), "{shown}");
    let out = stdout(&output);
    for expected in [
        "ok deploy/compose.yaml",
        "ok Dockerfile",
        "checked ",
        "deploy check ok: 0 problem(s) in compose, dockerfile, k8s",
    ] {
        assert!(out.contains(expected), "no `{expected}` in\n{shown}");
    }
    assert!(
        workspace_root().join("deploy/k8s/topology.yaml").is_file(),
        "deploy/k8s/topology.yaml (from `instadash deploy kubernetes`) is missing"
    );
}

#[test]
fn the_topology_kinds_validate_against_their_schemas() {
    let python = python();
    let dir = k8s_copy();
    let output = check(
        &python,
        &["--only", "k8s", "--k8s-dir", dir.path().to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "{}",
        describe("deploy/check.py on the sample topology", &output)
    );
}

/// One way to break the manifests, and what the checker must then say.
struct Breakage {
    what: &'static str,
    file: &'static str,
    change: fn(String) -> String,
    expected: &'static [&'static str],
}

#[test]
fn broken_manifests_are_caught() {
    let breakages = [
        Breakage {
            what: "a workload container without liveness probe",
            file: "tracker.yaml",
            change: |t| without_block(&t, "          livenessProbe:"),
            expected: &["tracker.yaml[0] StatefulSet/tracker container tracker: no livenessProbe"],
        },
        Breakage {
            what: "a container without memory limit",
            file: "alerts.yaml",
            change: |t| t.replacen("              memory: 256Mi\n", "", 1),
            expected: &["StatefulSet/alerts container alerts: no resources.limits.memory"],
        },
        Breakage {
            what: "a writable root filesystem",
            file: "monitor.yaml",
            change: |t| {
                t.replace(
                    "readOnlyRootFilesystem: true",
                    "readOnlyRootFilesystem: false",
                )
            },
            expected: &[
                "Deployment/monitor container monitor: securityContext.readOnlyRootFilesystem is not true",
            ],
        },
        Breakage {
            what: "an unknown field in a built-in kind (strict Kubernetes schema)",
            file: "monitor.yaml",
            change: |t| t.replacen("  replicas: 1\n", "  replicas: 1\n  replica: 2\n", 1),
            expected: &[
                "monitor.yaml[0] Deployment/monitor",
                "'replica' was unexpected",
            ],
        },
        Breakage {
            what: "a wrongly typed field in a built-in kind",
            file: "dashcam.yaml",
            change: |t| t.replace("minReplicas: 2", "minReplicas: two"),
            expected: &[
                "HorizontalPodAutoscaler/dashcam-worker: .spec.minReplicas: 'two' is not of type 'integer'",
            ],
        },
        Breakage {
            what: "a misspelt field in a topology resource (closed CRD schema)",
            file: "topology.yaml",
            change: |t| {
                t.replacen(
                    "  autoDelete: false\n  arguments:",
                    "  autodelete: false\n  arguments:",
                    1,
                )
            },
            expected: &[
                "Queue/instadash-events-tracker: .spec: Additional properties are not allowed ('autodelete' was unexpected)",
            ],
        },
        Breakage {
            what: "an exchange type the operator does not know",
            file: "topology.yaml",
            change: |t| t.replace("  type: topic\n", "  type: topical\n"),
            expected: &["Exchange/instadash-events: .spec.type: 'topical' is not one of"],
        },
        Breakage {
            what: "a RabbitmqCluster field that does not exist",
            file: "rabbitmq-cluster.yaml",
            change: |t| t.replace("  replicas: 3\n", "  replicas: 3\n  nodes: 3\n"),
            expected: &[
                "RabbitmqCluster/instadash-rabbitmq: .spec: Additional properties are not allowed ('nodes' was unexpected)",
            ],
        },
        Breakage {
            what: "custom and built-in kinds nobody knows",
            file: "topology.yaml",
            change: |t| {
                t + "---\napiVersion: rabbitmq.com/v1beta1\nkind: Shovel\nmetadata:\n  name: s\nspec: {}\n\
                     ---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
            },
            expected: &[
                "Shovel/s: unknown kind Shovel",
                "Widget/w: unknown kind Widget",
            ],
        },
        Breakage {
            what: "a permission for a user that is not defined",
            file: "topology.yaml",
            change: |t| {
                t.replacen(
                    "  userReference:\n    name: instadash-tracker\n",
                    "  userReference:\n    name: instadash-nobody\n",
                    1,
                )
            },
            expected: &[
                "Permission/instadash-tracker: userReference instadash-nobody is no User here",
            ],
        },
        Breakage {
            what: "guest credentials in a broker URL",
            file: "simulator.yaml",
            change: |t| t.replace("amqps://simulator@", "amqps://guest:guest@"),
            expected: &[
                "uses RabbitMQ's guest credentials",
                "Deployment/simulator container simulator: AMQP_URL carries a password",
            ],
        },
        Breakage {
            what: "plain AMQP",
            file: "trips.yaml",
            change: |t| {
                t.replace("amqps://trips@", "amqp://trips@")
                    .replace(":5671/", ":5672/")
            },
            expected: &["StatefulSet/trips container trips: AMQP_URL amqp://trips@"],
        },
        Breakage {
            what: "a manifest left out of kustomization.yaml",
            file: "kustomization.yaml",
            change: |t| t.replace("  - trips.yaml\n", ""),
            expected: &["kustomization.yaml: does not list trips.yaml"],
        },
    ];
    let python = python();
    // Each breakage on its own copy, run side by side: every run loads the Kubernetes schemas.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = breakages
            .iter()
            .map(|breakage| {
                let python = &python;
                scope.spawn(move || {
                    let dir = k8s_copy();
                    edit(dir.path(), breakage.file, breakage.change);
                    let output = check(
                        python,
                        &["--only", "k8s", "--k8s-dir", dir.path().to_str().unwrap()],
                    );
                    let out = stdout(&output);
                    let mut problems = Vec::new();
                    if output.status.code() != Some(1) {
                        problems.push(format!("exit status {}, not 1", output.status));
                    }
                    for expected in breakage.expected {
                        if !out.contains(expected) {
                            problems.push(format!("no `{expected}`"));
                        }
                    }
                    if problems.is_empty() {
                        None
                    } else {
                        Some(format!(
                            "{} ({}): {}\n{}",
                            breakage.what,
                            breakage.file,
                            problems.join(", "),
                            describe("deploy/check.py", &output)
                        ))
                    }
                })
            })
            .collect();
        runs.into_iter()
            .filter_map(|run| run.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
