//! `instadash dlq`: the dead-letter queues, what is in them and why, and replaying them once the
//! cause is fixed. Replayed messages are checked against the contract again; one that still fails
//! goes back to its dead-letter queue with its new reason, so nothing is lost either way.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use broker_bridge::management::{DEFAULT_MANAGEMENT_URL, Management};
use broker_bridge::{Bridge, BridgeArgs, BridgeConfig, DeadLetter};
use clap::{Args, Subcommand};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(flatten)]
    bridge: BridgeArgs,
    /// RabbitMQ management API, to find the dead-letter queues.
    #[arg(long, env = "RABBITMQ_MANAGEMENT_URL", default_value = DEFAULT_MANAGEMENT_URL)]
    management_url: String,
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Every dead-letter queue holding messages, with how many per reason.
    List {
        /// One JSON object per queue, as an array.
        #[arg(long)]
        json: bool,
    },
    /// The dead letters of one queue (the consumed queue, or its `.dead-letter` queue), oldest first.
    Show {
        queue: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Sends the dead letters of a queue back to it, each checked against the contract first.
    Replay {
        queue: String,
        /// At most this many (default: all that are there when the replay starts).
        #[arg(long)]
        limit: Option<u64>,
        /// Replay without checking (for types outside the contract).
        #[arg(long)]
        unchecked: bool,
    },
}

const SUFFIX: &str = ".dead-letter";

pub async fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let config = BridgeConfig::resolve(&args.bridge, "instadash-dlq")?;
    let vhost = config.vhost()?;
    let management = Management::new(&args.management_url)?;
    let bridge = Bridge::connect(config).await?;
    let outcome = match args.command {
        DlqCommand::List { json } => list(&bridge, management, &vhost, json).await,
        DlqCommand::Show { queue, limit, json } => show(&bridge, source(&queue), limit, json).await,
        DlqCommand::Replay {
            queue,
            limit,
            unchecked,
        } => replay(&bridge, source(&queue), limit, unchecked).await,
    };
    bridge.shutdown().await?;
    outcome.map(|()| ExitCode::SUCCESS)
}

/// The consumed queue a name refers to: `x` for `x` and for `x.dead-letter`.
fn source(queue: &str) -> &str {
    queue.strip_suffix(SUFFIX).unwrap_or(queue)
}

#[derive(Serialize)]
struct QueueSummary {
    queue: String,
    dead_letter_queue: String,
    messages: u64,
    /// Reason → count, over the messages read (at most `READ_FOR_REASONS`).
    reasons: BTreeMap<String, u64>,
}

/// How many letters per queue `list` reads to count reasons.
const READ_FOR_REASONS: usize = 1_000;

async fn list(
    bridge: &Bridge,
    management: Management,
    vhost: &str,
    json: bool,
) -> anyhow::Result<()> {
    let vhost_owned = vhost.to_owned();
    let queues = tokio::task::spawn_blocking(move || management.queues(&vhost_owned))
        .await?
        .context("listing queues through the management API")?;
    let mut summaries = Vec::new();
    for info in queues
        .into_iter()
        .filter(|q| q.name.ends_with(SUFFIX) && q.messages > 0)
    {
        let queue = source(&info.name).to_owned();
        let mut reasons = BTreeMap::new();
        for letter in bridge.dead_letters(&queue, READ_FOR_REASONS).await? {
            *reasons.entry(letter.reason).or_insert(0) += 1;
        }
        summaries.push(QueueSummary {
            queue,
            dead_letter_queue: info.name,
            messages: info.messages,
            reasons,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
        return Ok(());
    }
    if summaries.is_empty() {
        println!("no dead letters in vhost {vhost}");
    }
    for summary in &summaries {
        println!(
            "{} ({} messages)",
            summary.dead_letter_queue, summary.messages
        );
        for (reason, count) in &summary.reasons {
            println!("  {count:>6}  {reason}");
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct LetterView<'a> {
    id: Option<&'a str>,
    kind: Option<&'a str>,
    reason: &'a str,
    check: &'a str,
    pointer: &'a str,
    schema: &'a str,
    error: &'a str,
    rejected_by: &'a str,
    dead_lettered_at: &'a str,
    attempts: u32,
    content_type: &'a str,
    /// The payload as text when it is UTF-8, else base64.
    body: String,
}

impl<'a> From<&'a DeadLetter> for LetterView<'a> {
    fn from(letter: &'a DeadLetter) -> Self {
        use base64::Engine;
        let body = match std::str::from_utf8(&letter.body) {
            Ok(text) => text.to_owned(),
            Err(_) => format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(&letter.body)
            ),
        };
        Self {
            id: letter.id.as_deref(),
            kind: letter.kind.as_deref(),
            reason: &letter.reason,
            check: &letter.check,
            pointer: &letter.pointer,
            schema: &letter.schema,
            error: &letter.error,
            rejected_by: &letter.rejected_by,
            dead_lettered_at: &letter.dead_lettered_at,
            attempts: letter.attempts,
            content_type: &letter.content_type,
            body,
        }
    }
}

async fn show(bridge: &Bridge, queue: &str, limit: usize, json: bool) -> anyhow::Result<()> {
    let letters = bridge.dead_letters(queue, limit).await?;
    let views: Vec<LetterView> = letters.iter().map(LetterView::from).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(());
    }
    println!("{queue}{SUFFIX}: {} shown", views.len());
    for view in &views {
        println!();
        println!("id          {}", view.id.unwrap_or("-"));
        println!("type        {}", view.kind.unwrap_or("-"));
        println!("reason      {}", view.reason);
        if !view.check.is_empty() {
            println!("check       {} at `{}`", view.check, view.pointer);
        }
        if !view.schema.is_empty() {
            println!("schema      {}", view.schema);
        }
        println!("error       {}", view.error);
        println!(
            "rejected by {} at {}",
            view.rejected_by, view.dead_lettered_at
        );
        println!("attempts    {}", view.attempts);
        println!("body        ({}) {}", view.content_type, view.body);
    }
    Ok(())
}

async fn replay(
    bridge: &Bridge,
    queue: &str,
    limit: Option<u64>,
    unchecked: bool,
) -> anyhow::Result<()> {
    let report = bridge
        .replay_dead_letters(queue, limit.unwrap_or(u64::MAX), |letter| {
            if unchecked {
                return Ok(());
            }
            let kind = letter.kind.as_deref().unwrap_or_default();
            instadash_schemas::wire::check_message(kind, &letter.payload())
        })
        .await?;
    println!(
        "{queue}: {} replayed, {} failed their check again and are back in {queue}{SUFFIX} with the new reason",
        report.replayed, report.rejected_again
    );
    Ok(())
}
