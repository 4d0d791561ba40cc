//! Where the video goes: an object store behind a small trait.
//!
//! The trait has the shape of the S3 API the workers need — `put_object`, `head_object`,
//! `get_object` on checked [`ObjectKey`]s — so an S3-compatible store (AWS, MinIO, Ceph…) is one
//! more implementation, with no change to the pipeline:
//!
//! - `put` ↔ `PutObject` with `Content-Type` and `x-amz-checksum-sha256` (the adapter hashes the
//!   body before sending it, and the store checks it on arrival); S3 writes are atomic per object,
//!   as [`DirectoryStore`]'s are.
//! - `head` ↔ `HeadObject` with `ChecksumMode=ENABLED`: `ContentLength`, the stored SHA-256
//!   (base64 there, hex here) and `LastModified`; a 404 is `Ok(None)`.
//! - `get` ↔ `GetObject`.
//!
//! Methods return boxed futures (rather than `async fn`) so a store can be chosen at run time and
//! held as `Arc<dyn ObjectStore>`.

mod directory;

use std::future::Future;
use std::pin::Pin;

pub use directory::DirectoryStore;

use crate::key::ObjectKey;

/// A boxed, sendable future: what the store's methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the store says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// SHA-256 of the stored bytes, 64 lowercase hex digits.
    pub sha256: String,
    /// When it was written, ms since the Unix epoch, if the store knows.
    pub modified_ms: Option<i64>,
}

/// Why the store could not do what was asked. Every error is worth retrying (a full disk, a store
/// that is down); the pipeline leaves the retrying to the bridge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} `{key}`: {source}")]
    Io {
        action: &'static str,
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// Anything else a store reports (an S3 error code, a task that died).
    #[error("object store: {0}")]
    Backend(String),
}

/// An object store: whole objects written atomically under checked keys.
pub trait ObjectStore: Send + Sync + 'static {
    /// Writes `data` as the object `key`, replacing any object there. Readers see the old object
    /// or the new one, never a part; when this returns `Ok`, the object is durable.
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        data: Vec<u8>,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, StoreError>>;

    /// The object's size and checksum, or `None` if there is no such object.
    fn head<'a>(
        &'a self,
        key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<Option<ObjectInfo>, StoreError>>;

    /// The object's bytes, or `None` if there is no such object.
    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Where the objects are, for logs (`directory /var/lib/instadash/clips`).
    fn describe(&self) -> String;
}
