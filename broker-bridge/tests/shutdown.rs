//! Graceful shutdown: stop taking deliveries, finish what is in flight, wait for confirms, close.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use broker_bridge::testing::{Received, TestVhost};
use broker_bridge::{Incoming, LinkState, Message, PublishError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    n: u32,
}
impl Message for Job {
    const TYPE: &'static str = "instadash.test.job";
}

#[tokio::test]
async fn shutdown_finishes_the_handler_in_flight_and_takes_nothing_new() {
    let vhost = TestVhost::create().await.unwrap();
    let producer = vhost.connect("scheduler").await.unwrap();
    let worker = vhost.connect("dashcam").await.unwrap();
    let started = Arc::new(Received::<u32>::new());
    let finished = Arc::new(AtomicBool::new(false));
    let (on_start, on_finish) = (started.clone(), finished.clone());
    worker
        .work_queue("clips")
        .on(move |m: Incoming<Job>| {
            let (on_start, on_finish) = (on_start.clone(), on_finish.clone());
            async move {
                on_start.push(m.data.n);
                tokio::time::sleep(Duration::from_millis(700)).await;
                on_finish.store(true, Ordering::SeqCst);
                Ok(())
            }
        })
        .start()
        .await
        .unwrap();
    for n in 0..5 {
        producer
            .submit("clips", &Job { n })
            .await
            .unwrap()
            .confirmed()
            .await
            .unwrap();
    }
    assert_eq!(started.next(Duration::from_secs(5)).await.unwrap(), 0);

    worker.shutdown().await.unwrap();
    assert!(
        finished.load(Ordering::SeqCst),
        "the handler in flight ran to its end"
    );
    started
        .expect_nothing(Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(*worker.state().borrow(), LinkState::Closed);
    // The finished job was acknowledged; the four untouched jobs went back to the queue.
    vhost
        .wait_for_depth("instadash.work.clips", 4, Duration::from_secs(10))
        .await
        .unwrap();

    let after = worker.submit("clips", &Job { n: 99 }).await;
    assert!(
        matches!(after, Err(PublishError::ShutDown | PublishError::Broker(_))),
        "{after:?}"
    );
}

#[tokio::test]
async fn shutdown_waits_for_outstanding_confirms() {
    let vhost = TestVhost::create().await.unwrap();
    let producer = vhost.connect("scheduler").await.unwrap();
    producer
        .declare_work_queue("clips", broker_bridge::QueueKind::Quorum)
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for n in 0..2_000 {
        receipts.push(producer.submit("clips", &Job { n }).await.unwrap());
    }
    // No receipt awaited: shutdown itself must wait until the broker has every message.
    producer.shutdown().await.unwrap();
    for receipt in receipts {
        receipt.confirmed().await.unwrap();
    }
    vhost
        .wait_for_depth("instadash.work.clips", 2_000, Duration::from_secs(15))
        .await
        .unwrap();
}
