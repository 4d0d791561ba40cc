//! `amqps://` with a CA and client certificates, against a private node with a TLS listener that
//! requires client certificates. The test makes its own CAs and certificates.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use broker_bridge::testing::{PrivateNode, Received, TlsFiles};
use broker_bridge::{
    Bridge, BridgeArgs, BridgeConfig, BridgeError, Incoming, LinkState, RetryPolicy,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;

mod common;

use common::Tick;

const WAIT: Duration = Duration::from_secs(10);
/// A refused connection must be reported within this time, not retried forever.
const REFUSAL_WITHIN: Duration = Duration::from_secs(15);

/// A certificate authority of the test's own.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// A certificate for `names`, for a server or a client; returns (certificate, key), PEM.
    fn issue(
        &self,
        common_name: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("names");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }
}

/// Every CA, certificate and key of a test, as files in a directory of their own.
struct Pki {
    dir: TempDir,
    /// Signs the broker's certificate and the certificates the broker accepts.
    ca: Ca,
    /// A CA nobody trusts.
    rogue: Ca,
}

/// A client's TLS files (paths into the [`Pki`] directory).
struct ClientFiles {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl Pki {
    fn new() -> Pki {
        Pki {
            dir: tempfile::tempdir().expect("temp dir"),
            ca: Ca::new("Instadash test CA"),
            rogue: Ca::new("Rogue test CA"),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    /// The broker's side: the trusted CA and a server certificate for 127.0.0.1 and localhost.
    fn server_files(&self) -> TlsFiles {
        let (cert, key) = self.ca.issue(
            "instadash test broker",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        TlsFiles {
            ca_cert: self.write("ca.pem", &self.ca.issuer.pem()),
            cert: self.write("server.pem", &cert),
            key: self.write("server-key.pem", &key),
        }
    }

    /// A client trusting `trusted` (none: the system's roots alone), with a certificate from
    /// `signer` (none: no certificate).
    fn client(&self, name: &str, trusted: Option<&Ca>, signer: Option<&Ca>) -> ClientFiles {
        let ca = trusted.map(|ca| self.write(&format!("{name}-trusts.pem"), &ca.issuer.pem()));
        let (cert, key) = match signer {
            Some(signer) => {
                let (cert, key) = signer.issue(name, &[name], ExtendedKeyUsagePurpose::ClientAuth);
                (
                    Some(self.write(&format!("{name}.pem"), &cert)),
                    Some(self.write(&format!("{name}-key.pem"), &key)),
                )
            }
            None => (None, None),
        };
        ClientFiles { ca, cert, key }
    }
}

/// A test-friendly configuration for `service` at `url` with the client's TLS files.
fn config(service: &str, url: &str, files: &ClientFiles) -> BridgeConfig {
    let mut config = BridgeConfig::new(service);
    config.amqp_url = url.to_owned();
    config.tls_ca_file = files.ca.clone();
    config.tls_cert_file = files.cert.clone();
    config.tls_key_file = files.key.clone();
    config.retry = RetryPolicy {
        attempts: 3,
        delay: Duration::from_millis(200),
    };
    config
}

/// Publishes `seq` and waits until the subscriber's handler has it.
async fn round_trip(bridge: &Bridge, received: &Received<u32>, seq: u32) {
    bridge
        .publish(&Tick { seq })
        .await
        .expect("publish")
        .confirmed()
        .await
        .expect("confirmed");
    assert_eq!(received.next(WAIT).await.expect("delivered"), seq);
}

async fn wait_for_state(bridge: &Bridge, wanted: LinkState) {
    let mut state = bridge.state();
    tokio::time::timeout(WAIT, state.wait_for(|s| *s == wanted))
        .await
        .unwrap_or_else(|_| panic!("link not {wanted:?} within {WAIT:?}"))
        .expect("state watch");
}

/// Connects, expecting a refusal within [`REFUSAL_WITHIN`]; returns the error's text.
async fn refused(config: BridgeConfig) -> String {
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(REFUSAL_WITHIN, Bridge::connect(config)).await;
    if let Ok(Err(err)) = &outcome {
        eprintln!("refused after {:?}: {err}", started.elapsed());
    }
    match outcome {
        Err(_) => {
            panic!("still connecting after {REFUSAL_WITHIN:?}: a TLS failure must end connect")
        }
        Ok(Ok(_)) => panic!("connected, but the broker or the client should have refused"),
        Ok(Err(err @ BridgeError::Tls { .. })) => err.to_string(),
        Ok(Err(other)) => panic!("refused, but not as a TLS failure: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_with_the_ca_and_a_client_certificate_talks_over_amqps() {
    common::init_logs();
    let pki = Pki::new();
    let mut node = PrivateNode::start_tls(&pki.server_files())
        .await
        .expect("TLS node");
    let url = node.amqps_url().expect("the node has a TLS listener");
    let files = pki.client("tracker", Some(&pki.ca), Some(&pki.ca));

    let bridge = Bridge::connect(config("tracker", &url, &files))
        .await
        .expect("connect over amqps");
    let received = Arc::new(Received::<u32>::new());
    let seen = received.clone();
    bridge
        .subscribe("tracker")
        .on(move |m: Incoming<Tick>| {
            seen.push(m.data.seq);
            async { Ok(()) }
        })
        .start()
        .await
        .expect("subscribe");
    round_trip(&bridge, &received, 1).await;
    let connections = node
        .ctl(&["list_connections", "--silent", "ssl", "peer_cert_subject"])
        .await
        .expect("list_connections");
    assert!(
        connections
            .lines()
            .any(|l| l.starts_with("true") && l.contains("CN=tracker")),
        "the broker sees a TLS connection with the client's certificate: {connections}"
    );

    // lapin's own recovery dials with the same TLS settings...
    node.ctl(&["close_all_connections", "tls test"])
        .await
        .expect("close connections");
    wait_for_state(&bridge, LinkState::Recovering).await;
    wait_for_state(&bridge, LinkState::Connected).await;
    round_trip(&bridge, &received, 2).await;
    // ...and so does a replacement connection.
    bridge
        .renew_connection()
        .await
        .expect("replace the connection");
    round_trip(&bridge, &received, 3).await;
    bridge.shutdown().await.expect("shutdown");

    // The broker password from a file, for a user of the node's own.
    let password = "tls p@ss:word/é";
    node.ctl(&["add_user", "tls-user", password])
        .await
        .expect("add_user");
    node.ctl(&["set_permissions", "-p", "/", "tls-user", ".*", ".*", ".*"])
        .await
        .expect("set_permissions");
    let secret = pki.write("broker-password", &format!("{password}\n"));
    let port = node.tls_port().expect("TLS port");
    let args = BridgeArgs {
        amqp_url: Some(format!("amqps://tls-user@127.0.0.1:{port}/%2f")),
        amqp_password_file: Some(secret),
        tls_ca_file: files.ca.clone(),
        tls_cert_file: files.cert.clone(),
        tls_key_file: files.key.clone(),
        ..Default::default()
    };
    let resolved = BridgeConfig::resolve(&args, "trips").expect("config");
    let shown = format!("{resolved:?}");
    assert!(
        !shown.contains("p@ss") && !shown.contains("p%40ss"),
        "{shown}"
    );
    let bridge = Bridge::connect(resolved)
        .await
        .expect("connect with the password file");
    bridge
        .publish(&Tick { seq: 4 })
        .await
        .expect("publish")
        .confirmed()
        .await
        .expect("confirmed");
    let users = node
        .ctl(&["list_connections", "--silent", "user"])
        .await
        .expect("list_connections");
    assert!(users.lines().any(|l| l.trim() == "tls-user"), "{users}");
    bridge.shutdown().await.expect("shutdown");
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificates_are_refused_on_either_side() {
    common::init_logs();
    let pki = Pki::new();
    let node = PrivateNode::start_tls(&pki.server_files())
        .await
        .expect("TLS node");
    let url = node.amqps_url().expect("the node has a TLS listener");

    // The broker refuses a client whose certificate another CA signed, or that has none. Its
    // alert may reach the client or be overtaken by the reset of the closed socket; either way
    // the error says the certificate was refused. A few rounds, so both paths get their chance.
    let rogue_client = pki.client("rogue", Some(&pki.ca), Some(&pki.rogue));
    let anonymous = pki.client("anonymous", Some(&pki.ca), None);
    for _ in 0..3 {
        for (name, files) in [("rogue", &rogue_client), ("anonymous", &anonymous)] {
            let err = refused(config(name, &url, files)).await;
            assert!(
                err.contains("refuse") && err.contains("this client's certificate"),
                "{err}"
            );
            assert!(
                err.contains("received fatal alert")
                    || err.contains("hung up right after the TLS handshake"),
                "says what the broker did: {err}"
            );
        }
    }

    // The client refuses a broker whose certificate it cannot trace to a CA it trusts: another
    // CA, or the system's roots alone.
    let wrong_ca = pki.client("wrong-ca", Some(&pki.rogue), Some(&pki.ca));
    let err = refused(config("wrong-ca", &url, &wrong_ca)).await;
    assert!(
        err.contains("the broker's certificate is not trusted"),
        "{err}"
    );
    assert!(err.contains("UnknownIssuer"), "says why: {err}");
    let system_roots = pki.client("system-roots", None, Some(&pki.ca));
    let err = refused(config("system-roots", &url, &system_roots)).await;
    assert!(
        err.contains("the broker's certificate is not trusted"),
        "{err}"
    );
    assert!(!err.contains("guest:guest"), "no password in errors: {err}");

    // None of them got in.
    let connections = node
        .ctl(&["list_connections", "--silent", "name"])
        .await
        .expect("list_connections");
    assert!(connections.trim().is_empty(), "{connections}");
}
