//! `instadash probe URL`: a container health check without curl in the image. Exit status 0 when
//! the URL answers 2xx, 1 otherwise, with one line on stderr saying what came back, which is what
//! Docker's `HEALTHCHECK` and Compose's `healthcheck` keep in their logs.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The endpoint to ask, e.g. http://127.0.0.1:8081/readyz.
    pub url: String,
    /// Give up after this many seconds (connecting and reading together).
    #[arg(long, default_value_t = 3.0)]
    pub timeout_s: f64,
}

/// The most of an answer's body quoted on stderr.
const QUOTED_BYTES: u64 = 200;

pub fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.timeout_s.is_finite() && args.timeout_s > 0.0,
        "--timeout-s must be a positive number of seconds, not {}",
        args.timeout_s
    );
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs_f64(args.timeout_s)))
        // Any status is an answer to report, not an error.
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = match agent.get(&args.url).call() {
        Ok(response) => response,
        Err(error) => {
            eprintln!("probe {}: no answer: {error}", args.url);
            return Ok(ExitCode::FAILURE);
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(ExitCode::SUCCESS);
    }
    // The readiness endpoint says why in its body; a bounded read keeps a misdirected probe cheap.
    let mut body = Vec::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(QUOTED_BYTES)
        .read_to_end(&mut body);
    let body = String::from_utf8_lossy(&body);
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.is_empty() {
        eprintln!("probe {}: {status}", args.url);
    } else {
        eprintln!("probe {}: {status}: {body}", args.url);
    }
    Ok(ExitCode::FAILURE)
}
