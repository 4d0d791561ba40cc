//! Running the `instadash` command as a user would, against a test vhost.

use std::process::{Command, Output};

/// Runs `instadash <args>` with `AMQP_URL` pointing at `amqp_url`, off the async runtime.
pub async fn instadash(args: &[&str], amqp_url: &str) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let url = amqp_url.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_instadash"))
            .args(args)
            .env("AMQP_URL", url)
            .output()
    })
    .await
    .expect("the command thread ran")
    .expect("instadash starts")
}
