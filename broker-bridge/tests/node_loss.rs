//! Node loss on a three-node RabbitMQ cluster of private nodes, started by the test: a publisher
//! and a consumer run a steady stream through a quorum queue (the bridge
//! declares quorum queues by default) while, in turn, the queue's leader node is killed
//! (`kill -9`), a follower node is killed, and the leader node is frozen (`kill -STOP`) for 10 s.
//! Killed nodes are restarted (and back in the cluster) before the next fault.
//!
//! The clients connect to node 1, and before each fault the queue's leader is moved to node 0
//! (Ra's leadership transfer), so the faults hit the queue's replicas, never the clients' own
//! connection: this measures what the cluster does for a quorum queue, and the client only has to
//! ride out delayed confirms and deliveries, on connections that must not be replaced. (A client
//! whose own node dies reconnects to the same URL, which is covered by `broker_faults.rs` and
//! `broker_restart.rs`.)
//!
//! Each fault has a ledger of its own (its part of the stream); nothing may be lost or handled
//! twice, and the longest stall is reported.
//!
//! One consumer, as the fleet runs one tracker: deduplication is per process, so with two
//! instances in a group a delivery the broker hands back after the leader moves can reach the
//! other instance and be handled there again (ARCHITECTURE.md, "Deduplication is per process").

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_bridge::testing::{Ledger, LedgerReport, PrivateCluster, wait_until};
use broker_bridge::{Bridge, Incoming, topology};

mod common;

use common::Tick;

/// Events per fault: about three seconds of stream.
const PER_FAULT: u32 = 3_000;
/// Events per pacing step, one step every 10 ms: about 1,000 events a second.
const BURST: u32 = 10;
const GROUP: &str = "tracker";
/// Where the clients connect: never killed or frozen.
const CLIENT_NODE: usize = 1;
/// Where the queue's leader is put before each fault.
const LEADER_NODE: usize = 0;
/// The follower killed in the second fault.
const FOLLOWER_NODE: usize = 2;
const FREEZE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillLeader,
    KillFollower,
    FreezeLeader,
}

impl Fault {
    fn scenario(self) -> &'static str {
        match self {
            Fault::KillLeader => "node loss: kill -9 the quorum queue's leader",
            Fault::KillFollower => "node loss: kill -9 a follower",
            Fault::FreezeLeader => "node loss: freeze the leader 10 s (kill -STOP)",
        }
    }
}

use common::fault_config as config;

/// Publishes ticks `from..from + PER_FAULT` at a steady pace into `ledger`; how many failed.
async fn publish_part(bridge: Bridge, ledger: Arc<Ledger>, from: u32) -> u64 {
    common::publish_ticks(bridge, ledger, from..from + PER_FAULT, BURST).await
}

/// Runs one fault over its part of the stream and returns its ledger's report.
async fn run_fault(
    cluster: &mut PrivateCluster,
    fault: Fault,
    part: u32,
    producer: &Bridge,
    consumers: &[Bridge],
    ledger: Arc<Ledger>,
) -> LedgerReport {
    let queue = topology::group_queue(GROUP);
    cluster
        .transfer_leader(&queue, LEADER_NODE)
        .await
        .expect("the leader goes to node 0");
    let duplicates_before: u64 = consumers.iter().map(|c| c.stats().duplicates).sum();
    let publishing = tokio::spawn(publish_part(
        producer.clone(),
        ledger.clone(),
        part * PER_FAULT,
    ));
    wait_until("traffic flowing", Duration::from_secs(20), || {
        ledger.handled() > PER_FAULT as usize / 3
    })
    .await
    .expect("traffic flows");

    let started = Instant::now();
    ledger.fault();
    match fault {
        Fault::KillLeader => cluster.kill(LEADER_NODE).await.expect("kill the leader"),
        Fault::KillFollower => cluster.kill(FOLLOWER_NODE).await.expect("kill a follower"),
        Fault::FreezeLeader => {
            cluster.freeze(LEADER_NODE).expect("freeze the leader");
            tokio::time::sleep(FREEZE).await;
            cluster.thaw(LEADER_NODE).expect("thaw the leader");
        }
    }

    let failed = tokio::time::timeout(Duration::from_secs(60), publishing)
        .await
        .expect("publishing finishes within a minute")
        .expect("publishing task");
    assert_eq!(failed, 0, "{fault:?}: every publish confirmed in the end");
    wait_until(
        "every confirmed event handled",
        Duration::from_secs(60),
        || ledger.all_confirmed_handled(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", ledger.report(fault.scenario())));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let duplicates_after: u64 = consumers.iter().map(|c| c.stats().duplicates).sum();
    ledger.dropped_by_dedup(duplicates_after - duplicates_before);
    eprintln!(
        "{fault:?}: stream drained {:?} after the fault",
        started.elapsed()
    );

    // The cluster whole again before the next fault.
    match fault {
        Fault::KillLeader => cluster
            .restart(LEADER_NODE)
            .await
            .expect("leader node back"),
        Fault::KillFollower => cluster
            .restart(FOLLOWER_NODE)
            .await
            .expect("follower node back"),
        Fault::FreezeLeader => cluster
            .wait_until_clustered(Duration::from_secs(60))
            .await
            .expect("thawed node in the cluster"),
    }
    let report = ledger.report(fault.scenario());
    assert_eq!(report.sent, PER_FAULT as usize);
    assert_eq!(report.confirmed, PER_FAULT as usize);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_queue_pipeline_survives_leader_kill_follower_kill_and_leader_freeze() {
    common::init_logs();
    let started = Instant::now();
    let mut cluster = PrivateCluster::start().await.expect("cluster forms");
    eprintln!("cluster formed in {:?}", started.elapsed());
    let url = cluster.amqp_url(CLIENT_NODE);
    let producer = Bridge::connect(config(&url, "simulator"))
        .await
        .expect("producer connects");

    let faults = [Fault::KillLeader, Fault::KillFollower, Fault::FreezeLeader];
    let ledgers: Arc<Vec<Arc<Ledger>>> =
        Arc::new(faults.iter().map(|_| Arc::new(Ledger::default())).collect());
    let consumer = Bridge::connect(config(&url, GROUP))
        .await
        .expect("consumer connects");
    let recording = ledgers.clone();
    consumer
        .subscribe(GROUP)
        .on(move |m: Incoming<Tick>| {
            let part = (m.data.seq / PER_FAULT) as usize;
            if let Some(ledger) = recording.get(part) {
                ledger.record(&m.data.seq.to_string());
            }
            async { Ok(()) }
        })
        .start()
        .await
        .expect("subscribed");
    let consumers = vec![consumer];
    let queue = topology::group_queue(GROUP);
    let mut members = cluster.members_of(&queue).await.expect("queue members");
    members.sort_unstable();
    assert_eq!(members, vec![0, 1, 2], "a quorum queue on all three nodes");

    let mut reports = Vec::new();
    for (part, fault) in faults.into_iter().enumerate() {
        let report = run_fault(
            &mut cluster,
            fault,
            part as u32,
            &producer,
            &consumers,
            ledgers[part].clone(),
        )
        .await;
        reports.push(report);
    }
    // The clients' node stayed up throughout: their connections were slowed (the broker stops
    // reading a connection whose channels publish to a queue without a leader), never lost, and
    // must not have been replaced.
    for client in std::iter::once(&producer).chain(&consumers) {
        assert_eq!(
            client.stats_so_far().reconnects,
            0,
            "a connection to a node that stayed up was replaced or reconnected"
        );
    }
    producer.shutdown().await.expect("producer shuts down");
    for consumer in &consumers {
        consumer.shutdown().await.expect("consumer shuts down");
    }
    eprintln!("node loss run took {:?}", started.elapsed());
    let longest = reports.iter().map(|r| r.longest_stall_ms).max();
    eprintln!("longest stall over all faults: {longest:?} ms");
    for report in &reports {
        report.assert_passed();
    }
}
