//! `instadash config render` as operators run it: the shipped templates render for every
//! environment and service into files the bridge accepts; precedence, placeholders, secrets and
//! mistakes behave as deploy/config/README.md says.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use broker_bridge::{BridgeArgs, BridgeConfig};

const ENVIRONMENTS: [&str; 3] = ["dev", "qa", "prod"];

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config")
}

fn services() -> &'static [String] {
    &instadash_schemas::Catalog::embedded().services
}

fn render(dir: &Path, env: &str, service: &str, extra: &[&str]) -> Output {
    render_with_env(dir, env, service, extra, &[])
}

fn render_with_env(
    dir: &Path,
    env: &str,
    service: &str,
    extra: &[&str],
    vars: &[(&str, &str)],
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_instadash"))
        .args([
            "config",
            "render",
            "--env",
            env,
            "--service",
            service,
            "--dir",
        ])
        .arg(dir)
        .args(extra)
        .envs(vars.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("instadash runs")
}

/// The rendered text; fails the test with stderr when the render failed.
fn rendered(out: &Output) -> String {
    assert!(
        out.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

/// The error of a render that must fail.
fn refused(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "render should have failed; it printed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "nothing is rendered on failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `KEY=value` lines (comments and blank lines skipped), failing on anything else or a repeat.
fn env_lines(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line.split_once('=').expect("KEY=value");
        assert!(
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "not a variable name: {line:?}"
        );
        assert!(
            vars.insert(key.to_owned(), value.to_owned()).is_none(),
            "{key} twice"
        );
    }
    vars
}

/// A template directory holding the shipped base and `overlays` (name, text).
fn templates(overlays: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(shipped().join("base.toml"), dir.path().join("base.toml")).unwrap();
    for (name, text) in overlays {
        fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
    }
    dir
}

/// Loads a rendered bridge file as the service would, with its password file mounted (here: a
/// temporary file in place of /run/secrets/...).
fn resolve(rendered: &Path, password: &str) -> BridgeConfig {
    let mut table: toml::Table = fs::read_to_string(rendered).unwrap().parse().unwrap();
    let secret = rendered.with_extension("password");
    fs::write(&secret, format!("{password}\n")).unwrap();
    table.insert(
        "amqp_password_file".into(),
        toml::Value::String(secret.display().to_string()),
    );
    fs::write(rendered, toml::to_string(&table).unwrap()).unwrap();
    let args = BridgeArgs {
        config: Some(rendered.to_owned()),
        ..BridgeArgs::default()
    };
    BridgeConfig::resolve(&args, "not-the-service").expect("the bridge accepts the file")
}

#[test]
fn every_environment_and_service_renders_files_the_bridge_and_the_env_file_accept() {
    let out_dir = tempfile::tempdir().unwrap();
    for env in ENVIRONMENTS {
        for service in services() {
            let file = out_dir.path().join(format!("{env}-{service}.toml"));
            let out = render(&shipped(), env, service, &["--out", file.to_str().unwrap()]);
            assert_eq!(rendered(&out), "", "--out writes the file, not stdout");
            let table: toml::Table = fs::read_to_string(&file).unwrap().parse().unwrap();
            let password_file = table["amqp_password_file"].as_str().unwrap().to_owned();
            let config = resolve(&file, "s3cret");
            assert_eq!(&config.service, service, "{env}");
            assert!(
                config.amqp_url.contains(&format!("://{service}:s3cret@")),
                "{env}/{service}: the user is the service, the password from its file: {}",
                config.redacted_url()
            );
            let tls = env != "dev";
            assert_eq!(
                config.tls_ca_file.is_some(),
                tls,
                "{env}: TLS in qa and prod"
            );
            assert_eq!(config.amqp_url.starts_with("amqps://"), tls, "{env}");

            let vars = env_lines(&rendered(&render(
                &shipped(),
                env,
                service,
                &["--format", "env"],
            )));
            assert_eq!(vars["INSTADASH_SERVICE"], *service);
            assert!(
                vars["AMQP_URL"].contains(&format!("://{service}@")),
                "{vars:?}"
            );
            assert_eq!(
                vars["AMQP_PASSWORD_FILE"], password_file,
                "both formats agree"
            );
            assert_eq!(
                vars["INSTADASH_LOG_JSON"],
                tls.to_string(),
                "JSON logs in qa, prod"
            );
            assert_eq!(
                vars["INSTADASH_PREFETCH"],
                config.prefetch.to_string(),
                "both formats say the same"
            );
        }
    }
}

#[test]
fn the_overlay_wins_over_the_base_and_a_service_section_over_both() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("base.toml"),
        "[bridge]\nprefetch = 10\nconfirm_window = 11\ntrace_buffer = 12\n\
         [services.tracker.bridge]\nconfirm_window = 20\n\
         [services.tracker.env]\nINSTADASH_TRACKER_SNAPSHOT_S = 5\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("prod.toml"),
        "[bridge]\nprefetch = 30\nconfirm_window = 31\n\
         [services.tracker.bridge]\ntrace_buffer = 40\n\
         [services.tracker.env]\nINSTADASH_TRACKER_SNAPSHOT_S = 6\n",
    )
    .unwrap();
    let bridge = |service: &str| -> toml::Table {
        rendered(&render(dir.path(), "prod", service, &[]))
            .parse()
            .unwrap()
    };
    let tracker = bridge("tracker");
    assert_eq!(
        tracker["prefetch"].as_integer(),
        Some(30),
        "overlay over base"
    );
    assert_eq!(
        tracker["confirm_window"].as_integer(),
        Some(20),
        "the base's service section over the overlay's shared one"
    );
    assert_eq!(
        tracker["trace_buffer"].as_integer(),
        Some(40),
        "service section over both"
    );
    let alerts = bridge("alerts");
    assert_eq!(alerts["prefetch"].as_integer(), Some(30));
    assert_eq!(alerts["confirm_window"].as_integer(), Some(31));
    assert_eq!(alerts["trace_buffer"].as_integer(), Some(12));
    let vars = env_lines(&rendered(&render(
        dir.path(),
        "prod",
        "tracker",
        &["--format", "env"],
    )));
    assert_eq!(vars["INSTADASH_TRACKER_SNAPSHOT_S"], "6");

    // The shipped templates: dashcam keeps its small prefetch from base.toml in prod.
    let dashcam: toml::Table = rendered(&render(&shipped(), "prod", "dashcam", &[]))
        .parse()
        .unwrap();
    let tracker: toml::Table = rendered(&render(&shipped(), "prod", "tracker", &[]))
        .parse()
        .unwrap();
    assert!(dashcam["prefetch"].as_integer() < tracker["prefetch"].as_integer());
}

#[test]
fn service_and_env_placeholders_are_substituted() {
    let text = rendered(&render(&shipped(), "dev", "trips", &[]));
    let table: toml::Table = text.parse().unwrap();
    assert_eq!(table["service"].as_str(), Some("trips"));
    assert!(
        table["amqp_url"]
            .as_str()
            .unwrap()
            .starts_with("amqp://trips@"),
        "{text}"
    );
    assert_eq!(
        table["amqp_password_file"].as_str(),
        Some("/run/secrets/trips")
    );
    assert!(
        !text.contains("{service}") && !text.contains("{env}"),
        "{text}"
    );

    let dir = templates(&[(
        "staging",
        "[bridge]\namqp_url = \"amqp://{service}@h/{env}-vhost\"\n",
    )]);
    let table: toml::Table = rendered(&render(dir.path(), "staging", "alerts", &[]))
        .parse()
        .unwrap();
    assert_eq!(
        table["amqp_url"].as_str(),
        Some("amqp://alerts@h/staging-vhost")
    );
}

#[test]
fn a_literal_secret_is_refused_naming_the_file_and_key_never_the_value() {
    for (overlay, key) in [
        (
            "[bridge]\namqp_url = \"amqp://{service}:hunter2@rabbitmq:5672/x\"\n",
            "bridge.amqp_url",
        ),
        (
            "[services.monitor.env]\nRABBITMQ_MANAGEMENT_URL = \"http://monitor:hunter2@rabbitmq:15672\"\n",
            "services.monitor.env.RABBITMQ_MANAGEMENT_URL",
        ),
        (
            "[services.monitor.bridge]\namqp_password = \"hunter2\"\n",
            "services.monitor.bridge.amqp_password",
        ),
        ("[env]\nAPI_TOKEN = \"hunter2\"\n", "env.API_TOKEN"),
    ] {
        let dir = templates(&[("leaky", overlay)]);
        for format in ["toml", "env"] {
            let error = refused(&render(
                dir.path(),
                "leaky",
                "monitor",
                &["--format", format],
            ));
            assert!(error.contains("leaky.toml"), "{error}");
            assert!(error.contains(key), "{error}");
            assert!(
                !error.contains("hunter2"),
                "the error shows no secret: {error}"
            );
        }
    }
}

#[test]
fn a_secret_in_the_environment_never_reaches_the_output() {
    let dir = templates(&[(
        "prod",
        "[services.monitor.env]\n\
         RABBITMQ_MANAGEMENT_URL = \"http://monitor:${MGMT_PASSWORD}@rabbitmq:15672\"\n",
    )]);
    let secret = "env-secret-value";
    let vars = [
        ("MGMT_PASSWORD", secret),
        (
            "AMQP_URL",
            "amqp://monitor:env-secret-value@elsewhere:5672/x",
        ),
        ("AMQP_PASSWORD", secret),
        ("INSTADASH_PREFETCH", "7"),
    ];
    for format in ["toml", "env"] {
        let out = render_with_env(dir.path(), "prod", "monitor", &["--format", format], &vars);
        let text = rendered(&out);
        assert!(!text.contains(secret), "{format}: {text}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
        // The renderer's own environment does not leak into what it renders.
        assert!(!text.contains("elsewhere"), "{text}");
        assert!(text.contains("prefetch = 300") || text.contains("INSTADASH_PREFETCH=300"));
    }
    let text = rendered(&render_with_env(
        dir.path(),
        "prod",
        "monitor",
        &["--format", "env"],
        &vars,
    ));
    assert_eq!(
        env_lines(&text)["RABBITMQ_MANAGEMENT_URL"],
        "http://monitor:${MGMT_PASSWORD}@rabbitmq:15672",
        "the reference stays unexpanded"
    );
}

#[test]
fn an_unknown_environment_or_service_lists_the_valid_ones() {
    let error = refused(&render(&shipped(), "staging", "tracker", &[]));
    assert!(error.contains("staging"), "{error}");
    assert!(error.contains("dev, prod, qa"), "{error}");

    let error = refused(&render(&shipped(), "prod", "trackr", &[]));
    assert!(error.contains("trackr"), "{error}");
    assert!(error.contains(&services().join(", ")), "{error}");
}

#[test]
fn a_mistyped_key_fails_at_render_time_naming_the_file_it_came_from() {
    let cases = [
        (
            "[services.dashcam.bridge]\nprefech = 3\n",
            "services.dashcam.bridge.prefech",
        ),
        (
            "[bridge]\nconfirm_window = \"many\"\n",
            "bridge.confirm_window",
        ),
        ("[bridge]\nconfirm_window = 0\n", "bridge.confirm_window"),
        (
            "[services.dashcam.env]\nINSTADASH_DASHCAM_WORKRES = 3\n",
            "INSTADASH_DASHCAM_WORKRES",
        ),
        (
            "[services.dashcam.env]\nINSTADASH_DASHCAM_WORKERS = \"two\"\n",
            "services.dashcam.env.INSTADASH_DASHCAM_WORKERS",
        ),
        ("[brigde]\nprefetch = 3\n", "brigde"),
        (
            "[bridge]\namqp_url = \"amqp://{servcie}@h/v\"\n",
            "{servcie}",
        ),
        // TLS files need amqps://; the base's URL is amqp://.
        ("[bridge]\ntls_ca_file = \"/etc/ca.pem\"\n", "amqp_url"),
    ];
    for (overlay, what) in cases {
        let dir = templates(&[("typo", overlay)]);
        let error = refused(&render(dir.path(), "typo", "dashcam", &[]));
        assert!(error.contains("typo.toml"), "{overlay}: {error}");
        assert!(error.contains(what), "{overlay}: {error}");
    }
}

#[test]
fn env_output_is_key_value_lines_with_the_services_own_settings() {
    let text = rendered(&render(&shipped(), "prod", "dashcam", &["--format", "env"]));
    let vars = env_lines(&text);
    assert_eq!(vars["INSTADASH_DASHCAM_WORKERS"], "8");
    assert_eq!(
        vars["INSTADASH_TLS_CA_FILE"],
        "/run/secrets/instadash/rabbitmq-ca/ca.crt"
    );
    // A value may hold `=`: only the first one separates the name.
    assert_eq!(vars["RUST_LOG"], "info,lapin::returned_messages=error");
    assert!(text.ends_with('\n'));
}
