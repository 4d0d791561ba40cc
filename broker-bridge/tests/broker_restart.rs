//! The broker itself goes away mid-stream: a private node of the test's own (never the shared one)
//! is stopped and started again while a producer and a consumer are busy. Nothing is lost, and
//! traffic resumes within 2 seconds of the node answering again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_bridge::testing::{Ledger, PrivateNode, wait_until};
use broker_bridge::{Bridge, BridgeConfig, Incoming, LinkState};

mod common;

use common::Tick;

const MESSAGES: u32 = 6_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing_and_resumes_within_two_seconds() {
    common::init_logs();
    let mut node = PrivateNode::start().await.expect("private node boots");
    let config = |service: &str| {
        let mut config = BridgeConfig::new(service);
        config.amqp_url = node.amqp_url();
        config
    };
    let producer = Bridge::connect(config("simulator")).await.unwrap();
    let consumer = Bridge::connect(config("tracker")).await.unwrap();

    let ledger = Arc::new(Ledger::default());
    let record = ledger.clone();
    consumer
        .subscribe("tracker")
        .on(move |m: Incoming<Tick>| {
            record.record(&m.envelope.id);
            async { Ok(()) }
        })
        .start()
        .await
        .unwrap();

    // A steady stream (about 1,000 msg/s) so the restart lands in the middle of it.
    let publisher = producer.clone();
    let publishing = tokio::spawn(async move {
        let mut receipts = Vec::new();
        for seq in 0..MESSAGES {
            receipts.push(publisher.publish(&Tick { seq }).await.expect("publish"));
            if seq % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        for receipt in receipts {
            receipt.confirmed().await.expect("confirmed in the end");
        }
    });

    let count = || ledger.handled();
    wait_until("traffic flowing", Duration::from_secs(20), || count() > 500)
        .await
        .unwrap();
    node.stop().await.expect("node stops");
    let mut state = consumer.state();
    wait_until("the loss is seen", Duration::from_secs(10), || {
        *state.borrow_and_update() != LinkState::Connected
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = count();

    node.restart().await.expect("node restarts");
    let answering = Instant::now();
    wait_until("traffic resumes", Duration::from_secs(10), || {
        ledger.last_handled_at().is_some_and(|at| at > answering)
    })
    .await
    .unwrap();
    let resumed = answering.elapsed();
    eprintln!("traffic resumed {resumed:?} after the node answered ({before} handled before)");
    assert!(
        resumed < Duration::from_secs(2),
        "resumed after {resumed:?}"
    );

    tokio::time::timeout(Duration::from_secs(120), publishing)
        .await
        .expect("publishing finishes")
        .unwrap();
    wait_until("every message handled", Duration::from_secs(60), || {
        count() == MESSAGES as usize
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {} of {MESSAGES}", count()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(), MESSAGES as usize, "nothing lost");
    assert_eq!(ledger.duplicates(), 0, "no event handled twice");
    producer.shutdown().await.unwrap();
    consumer.shutdown().await.unwrap();
}
