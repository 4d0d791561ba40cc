//! [`DirectoryStore`]: objects as files under a root directory, the default store.
//!
//! A key's segments are the path below the root (keys are checked, so nothing lands outside it).
//! A put writes a temporary file next to the object (`.<name>.tmp-<pid>-<n>`, which no key can
//! name since key segments never start with `.`), hashes the bytes as it writes them, syncs the
//! file, renames it over the object and syncs the directory: a crash leaves the old object or the
//! new one, never a torn file, and a put that returned is on disk. A crash mid-write can leave a
//! temporary file behind; it is never read, and is safe to delete once its writer is gone.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use super::{BoxFuture, ObjectInfo, ObjectStore, StoreError};
use crate::key::ObjectKey;

/// Objects as files under `root`.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    root: PathBuf,
}

/// Makes temporary names unique among the puts of this process; the pid separates processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Bytes hashed and written per step (and read per step when hashing an existing file).
const STEP: usize = 1 << 20;

impl DirectoryStore {
    /// A store under `root`, created if missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|source| StoreError::Io {
            action: "creating the store directory",
            key: root.display().to_string(),
            source,
        })?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`.
    pub fn path_of(&self, key: &ObjectKey) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(key.segments());
        path
    }
}

impl ObjectStore for DirectoryStore {
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        data: Vec<u8>,
        _content_type: &'a str,
    ) -> BoxFuture<'a, Result<ObjectInfo, StoreError>> {
        // A file has no media type; the key's extension says it (S3 would keep it).
        let (root, path, name) = (self.root.clone(), self.path_of(key), key.to_string());
        Box::pin(blocking(move || {
            write_atomically(&root, &path, &data).map_err(io_error("storing", &name))
        }))
    }

    fn head<'a>(
        &'a self,
        key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<Option<ObjectInfo>, StoreError>> {
        let (path, name) = (self.path_of(key), key.to_string());
        Box::pin(blocking(move || {
            describe_file(&path).map_err(io_error("looking up", &name))
        }))
    }

    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let (path, name) = (self.path_of(key), key.to_string());
        Box::pin(blocking(move || match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if is_absent(&error) => Ok(None),
            Err(error) => Err(io_error("reading", &name)(error)),
        }))
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }
}

fn write_atomically(root: &Path, path: &Path, data: &[u8]) -> io::Result<ObjectInfo> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "object path has no parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "object path has no name"))?;
    create_dirs_durably(root, dir)?;
    let temp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = write_and_hash(&temp, data).and_then(|sha256| {
        fs::rename(&temp, path)?;
        // The rename is durable only once the directory entry is.
        File::open(dir)?.sync_all()?;
        Ok(sha256)
    });
    let sha256 = match written {
        Ok(sha256) => sha256,
        Err(error) => {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
    };
    Ok(ObjectInfo {
        size: data.len() as u64,
        sha256,
        modified_ms: fs::metadata(path).ok().and_then(|m| modified_ms(&m)),
    })
}

/// Writes the temporary file, hashing exactly the bytes written, and syncs it.
fn write_and_hash(temp: &Path, data: &[u8]) -> io::Result<String> {
    let mut file = File::options().write(true).create_new(true).open(temp)?;
    let mut hasher = Sha256::new();
    for step in data.chunks(STEP) {
        hasher.update(step);
        file.write_all(step)?;
    }
    file.sync_all()?;
    Ok(hex::encode(hasher.finalize()))
}

/// Creates `dir` and any missing parents below `root`, syncing each new entry's parent so the
/// object's path survives a crash too.
fn create_dirs_durably(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|a| a.starts_with(root) && *a != root && !a.is_dir())
        .collect();
    fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent() {
            File::open(parent)?.sync_all()?;
        }
    }
    Ok(())
}

fn describe_file(path: &Path) -> io::Result<Option<ObjectInfo>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if is_absent(&error) => return Ok(None),
        Err(error) => return Err(error),
    };
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        // A "directory" is a key prefix, not an object.
        return Ok(None);
    }
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; STEP];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok(Some(ObjectInfo {
        size,
        sha256: hex::encode(hasher.finalize()),
        modified_ms: modified_ms(&metadata),
    }))
}

fn modified_ms(metadata: &fs::Metadata) -> Option<i64> {
    let since = metadata.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// Not there: no such file, or a path through something that is not a directory.
fn is_absent(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn io_error(action: &'static str, key: &str) -> impl FnOnce(io::Error) -> StoreError {
    let key = key.to_owned();
    move |source| StoreError::Io {
        action,
        key,
        source,
    }
}

/// File work runs on tokio's blocking pool, off the workers' threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::Backend(format!("store task failed: {error}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, DirectoryStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DirectoryStore::open(dir.path().join("clips-root")).expect("store");
        (dir, store)
    }

    fn key(text: &str) -> ObjectKey {
        ObjectKey::new(text).expect("valid key")
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// Everything under the root, as relative paths.
    fn files(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(dir).expect("readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let relative = path.strip_prefix(root).expect("below root");
                    out.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn put_head_get_round_trip_with_the_checksum_of_what_was_written() {
        let (_dir, store) = store();
        let k = key("clips/car-1/a.mp4");
        assert_eq!(store.head(&k).await.expect("head"), None);
        assert_eq!(store.get(&k).await.expect("get"), None);

        let data = b"\x00\x00\x00\x18ftypmp42 and more".to_vec();
        let put = store.put(&k, data.clone(), "video/mp4").await.expect("put");
        assert_eq!(put.size, data.len() as u64);
        assert_eq!(put.sha256, sha(&data));
        assert!(put.modified_ms.is_some());

        let head = store.head(&k).await.expect("head").expect("exists");
        assert_eq!((head.size, head.sha256), (put.size, put.sha256));
        assert_eq!(store.get(&k).await.expect("get"), Some(data));
        assert_eq!(
            files(store.root()),
            ["clips/car-1/a.mp4"],
            "no temp file left"
        );
    }

    #[tokio::test]
    async fn a_put_replaces_the_object_and_readers_never_see_a_part_of_it() {
        let (_dir, store) = store();
        let k = key("clips/car-1/a.mp4");
        let old = vec![1u8; 3 * STEP];
        let new = vec![2u8; 3 * STEP + 17];
        store.put(&k, old.clone(), "video/mp4").await.expect("put");

        let path = store.path_of(&k);
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let (old_len, new_len) = (old.len(), new.len());
        let reader = std::thread::spawn(move || {
            let mut reads = 0;
            loop {
                let seen = fs::read(&path).expect("the object is always there");
                let whole_old = seen.len() == old_len && seen.iter().all(|b| *b == 1);
                let whole_new = seen.len() == new_len && seen.iter().all(|b| *b == 2);
                assert!(whole_old || whole_new, "torn read of {} bytes", seen.len());
                reads += 1;
                if stop_rx.try_recv().is_ok() {
                    return reads;
                }
            }
        });
        for round in 0..10 {
            let data = if round % 2 == 0 { &new } else { &old };
            store.put(&k, data.clone(), "video/mp4").await.expect("put");
        }
        stop_tx.send(()).expect("reader running");
        assert!(reader.join().expect("reader saw whole objects only") > 0);
        assert_eq!(store.get(&k).await.expect("get"), Some(old));
        assert_eq!(files(store.root()), ["clips/car-1/a.mp4"]);
    }

    #[tokio::test]
    async fn a_failed_put_leaves_neither_an_object_nor_a_temporary_file() {
        let (_dir, store) = store();
        // A directory where the object should go: the rename fails after the data was written.
        let k = key("clips/car-1/a.mp4");
        fs::create_dir_all(store.path_of(&k).join("x")).expect("blocking dir");
        let error = store
            .put(&k, vec![7; 100], "video/mp4")
            .await
            .expect_err("cannot replace a directory");
        assert!(error.to_string().contains("clips/car-1/a.mp4"), "{error}");
        assert!(files(store.root()).is_empty(), "{:?}", files(store.root()));
        assert_eq!(store.head(&k).await.expect("head"), None);
    }

    #[tokio::test]
    async fn keys_map_below_the_root_only() {
        let (dir, store) = store();
        let k = ObjectKey::for_clip("car-1", "../../escape").expect("escaped");
        store
            .put(&k, vec![1, 2, 3], "video/mp4")
            .await
            .expect("put");
        let path = store.path_of(&k);
        assert!(path.starts_with(store.root()));
        assert_eq!(
            path.parent(),
            Some(store.root().join("clips/car-1").as_path())
        );
        assert!(!dir.path().join("escape.mp4").exists());
    }

    #[tokio::test]
    async fn a_prefix_is_not_an_object() {
        let (_dir, store) = store();
        store
            .put(&key("clips/car-1/a.mp4"), vec![1], "video/mp4")
            .await
            .expect("put");
        assert_eq!(store.head(&key("clips/car-1")).await.expect("head"), None);
        assert_eq!(
            store.head(&key("clips/car-1/a.mp4/b")).await.expect("head"),
            None
        );
    }
}
