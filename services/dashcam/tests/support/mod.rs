//! What the dashcam tests share: stores that count, fail or hang; the car's side; an observer of
//! `clip-stored`; jobs and their expected bytes.

#![allow(dead_code)] // each test binary uses its own part of this

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker_bridge::testing::TestVhost;
use broker_bridge::{Bridge, Incoming};
use instadash_dashcam::store::BoxFuture;
use instadash_dashcam::{ObjectInfo, ObjectKey, ObjectStore, StoreError};
use instadash_schemas::dashcam::ClipTrigger;
use instadash_schemas::dashcam::clip_stored::v1::ClipStored;
use instadash_schemas::dashcam::fetch_clip::v1::FetchClip;
use instadash_simulator::clips::{Clip, serve_clips};
use sha2::{Digest, Sha256};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// The job for clip `n` of a test, with the given window.
pub fn job(n: usize, before_s: u32, after_s: u32) -> FetchClip {
    FetchClip {
        clip_id: format!("clip-{n:05}"),
        vehicle_id: format!("car-{:03}", n % 37),
        trigger: ClipTrigger::HarshBrake,
        trigger_time_ms: 1_793_693_730_250 + n as i64,
        window_before_s: before_s,
        window_after_s: after_s,
        requested_by: "test".into(),
        alert_id: None,
    }
}

/// What the car holds for a clip.
pub fn clip_bytes(vehicle_id: &str, clip_id: &str, before_s: u32, after_s: u32) -> Vec<u8> {
    Clip::new(vehicle_id, clip_id, before_s, after_s).to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The simulator's side: a bridge named `simulator` serving clip bytes.
pub async fn start_car_side(vhost: &TestVhost) -> anyhow::Result<Bridge> {
    let bridge = vhost.connect("simulator").await?;
    serve_clips(&bridge).await?;
    Ok(bridge)
}

/// Every `clip-stored` seen on the bus, by clip id.
#[derive(Default)]
pub struct Announcements {
    by_clip: Mutex<HashMap<String, Vec<ClipStored>>>,
}

impl Announcements {
    /// Subscribes a group `observer` and records what it receives.
    pub async fn observe(vhost: &TestVhost) -> anyhow::Result<(Bridge, Arc<Self>)> {
        let bridge = vhost.connect("observer").await?;
        let seen = Arc::new(Self::default());
        let sink = seen.clone();
        bridge
            .subscribe("observer")
            .on(move |event: Incoming<ClipStored>| {
                let sink = sink.clone();
                async move {
                    sink.lock()
                        .entry(event.data.clip_id.clone())
                        .or_default()
                        .push(event.data);
                    Ok(())
                }
            })
            .start()
            .await?;
        Ok((bridge, seen))
    }

    /// Distinct clips announced.
    pub fn clips(&self) -> usize {
        self.lock().len()
    }

    /// Announcements in all, repeats included.
    pub fn total(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    pub fn of(&self, clip_id: &str) -> Vec<ClipStored> {
        self.lock().get(clip_id).cloned().unwrap_or_default()
    }

    pub fn all(&self) -> HashMap<String, Vec<ClipStored>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<ClipStored>>> {
        self.by_clip.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A store that counts the puts it passes on, per key, and can log each one's start (`begin`)
/// and end (`done`) with the process id to a file shared by several processes (one `write` per
/// line on a file opened for appending, so lines from processes never interleave).
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    done: Mutex<HashMap<String, u32>>,
    log: Option<Mutex<File>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            done: Mutex::default(),
            log: None,
        }
    }

    pub fn logging_to(inner: Arc<dyn ObjectStore>, log: &Path) -> anyhow::Result<Self> {
        let file = File::options().create(true).append(true).open(log)?;
        Ok(Self {
            log: Some(Mutex::new(file)),
            ..Self::new(inner)
        })
    }

    /// Completed puts of `key`.
    pub fn puts(&self, key: &str) -> u32 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    pub fn all_puts(&self) -> HashMap<String, u32> {
        self.lock().clone()
    }

    fn record(&self, event: &str, key: &ObjectKey) -> Result<(), StoreError> {
        if let Some(log) = &self.log {
            let line = format!("{event} {} {key}\n", std::process::id());
            let mut file = log.lock().unwrap_or_else(|p| p.into_inner());
            file.write_all(line.as_bytes())
                .map_err(|e| StoreError::Backend(format!("put log: {e}")))?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.done.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ObjectStore for CountingStore {
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        data: Vec<u8>,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, StoreError>> {
        Box::pin(async move {
            self.record("begin", key)?;
            let info = self.inner.put(key, data, content_type).await?;
            *self.lock().entry(key.to_string()).or_default() += 1;
            self.record("done", key)?;
            Ok(info)
        })
    }

    fn head<'a>(
        &'a self,
        key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<Option<ObjectInfo>, StoreError>> {
        self.inner.head(key)
    }

    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        self.inner.get(key)
    }

    fn describe(&self) -> String {
        format!("counting {}", self.inner.describe())
    }
}

/// A store whose puts always fail, as a full disk or an unreachable bucket would.
#[derive(Default)]
pub struct FailingStore {
    pub attempts: AtomicU64,
}

pub const STORE_FAILURE: &str = "no space left on device (injected by the test)";

impl ObjectStore for FailingStore {
    fn put<'a>(
        &'a self,
        _key: &'a ObjectKey,
        _data: Vec<u8>,
        _content_type: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, StoreError>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(StoreError::Backend(STORE_FAILURE.into())) })
    }

    fn head<'a>(
        &'a self,
        _key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<Option<ObjectInfo>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn get<'a>(
        &'a self,
        _key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn describe(&self) -> String {
        "failing store".into()
    }
}

/// A store whose puts never finish: the worker is stuck mid-job until it is killed.
pub struct HangingStore;

impl ObjectStore for HangingStore {
    fn put<'a>(
        &'a self,
        _key: &'a ObjectKey,
        _data: Vec<u8>,
        _content_type: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, StoreError>> {
        Box::pin(std::future::pending())
    }

    fn head<'a>(
        &'a self,
        _key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<Option<ObjectInfo>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn get<'a>(
        &'a self,
        _key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn describe(&self) -> String {
        "hanging store".into()
    }
}

/// One line of a put log: `begin|done <pid> <key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutEvent {
    pub done: bool,
    pub pid: u32,
    pub key: String,
}

/// Reads a put log written by [`CountingStore::logging_to`]. A line cut short by a kill (no
/// newline yet) is left out.
pub fn read_put_log(path: &Path) -> anyhow::Result<Vec<PutEvent>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|line| {
            let mut words = line.split(' ');
            let (Some(event), Some(pid), Some(key), None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                anyhow::bail!("bad put log line `{line}`");
            };
            Ok(PutEvent {
                done: match event {
                    "begin" => false,
                    "done" => true,
                    other => anyhow::bail!("bad put log event `{other}`"),
                },
                pid: pid.parse()?,
                key: key.to_owned(),
            })
        })
        .collect()
}

/// Every file below `root` whose name starts with `.` (temporary files of interrupted puts).
pub fn temporary_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if entry.file_name().to_string_lossy().starts_with('.') {
                found.push(path);
            }
        }
    }
    found
}

/// Polls `check` every 20 ms until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
