//! The tracker's state on disk, so a restart continues where it stopped instead of forgetting
//! every odometer and calling the whole fleet new.
//!
//! A [`Snapshot`] is JSON with a `format` number: a tracker reads only the format it writes
//! ([`FORMAT`]) and says so clearly otherwise, rather than guessing at fields. [`save`] replaces
//! the file atomically (temporary file in the same directory, fsync, rename, fsync of the
//! directory), so a crash leaves either the old snapshot or the new one, never half of one.
//! [`load`] tells a missing file (a first start: `Ok(None)`) from a damaged one (an error naming
//! the file), and never panics.
//!
//! Numbers survive the trip exactly: serde_json is built with `float_roundtrip` in this workspace
//! (through the schema crate's validator), so a restored odometer is bit-for-bit the saved one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::vehicle::VehicleRecord;

/// The snapshot format this tracker writes and reads.
pub const FORMAT: u32 = 1;

/// Everything [`Fleet::restore`](crate::state::Fleet::restore) needs to rebuild a fleet: per
/// vehicle its status, times (event and received), newest values of every message kind and
/// odometer. Made by [`Fleet::snapshot`](crate::state::Fleet::snapshot); its contents are the
/// tracker's own business, only the format number is public.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    format: u32,
    vehicles: Vec<SavedVehicle>,
}

/// One vehicle in a snapshot: its id and its record, side by side in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedVehicle {
    pub vehicle_id: String,
    #[serde(flatten)]
    pub record: VehicleRecord,
}

impl Snapshot {
    pub(crate) fn new(vehicles: Vec<SavedVehicle>) -> Snapshot {
        Snapshot {
            format: FORMAT,
            vehicles,
        }
    }

    pub(crate) fn into_vehicles(self) -> Vec<SavedVehicle> {
        self.vehicles
    }

    /// The format this snapshot was written in.
    pub fn format(&self) -> u32 {
        self.format
    }

    /// How many vehicles it holds.
    pub fn len(&self) -> usize {
        self.vehicles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vehicles.is_empty()
    }
}

/// Why a snapshot could not be saved or loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot {action} snapshot file {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read", "write", "replace".
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("snapshot file {} is corrupt: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("snapshot file {} has format {found}; this tracker reads format {FORMAT}", path.display())]
    UnsupportedFormat { path: PathBuf, found: u64 },
}

/// Writes `snapshot` to `path`, replacing any file there atomically: a temporary file in the same
/// directory (so the rename stays within one file system) is written and fsynced, renamed over
/// `path`, and the directory is fsynced so the rename itself survives a crash. On failure the
/// temporary file is removed and `path` is untouched.
pub fn save(path: &Path, snapshot: &Snapshot) -> Result<(), SnapshotError> {
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| SnapshotError::Io {
            action,
            path,
            source,
        }
    };
    let Some(file_name) = path.file_name() else {
        let source = io::Error::new(io::ErrorKind::InvalidInput, "not a file name");
        return Err(io_error("write", path)(source));
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(directory).map_err(io_error("create the directory of", path))?;
    let temporary = directory.join(temporary_name(file_name));

    let written = write_synced(&temporary, snapshot)
        .map_err(io_error("write", &temporary))
        .and_then(|()| fs::rename(&temporary, path).map_err(io_error("replace", path)));
    if let Err(error) = written {
        // Best effort: the error that matters is the one above.
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    sync_directory(directory).map_err(io_error("sync the directory of", path))
}

/// Reads the snapshot at `path`: `Ok(None)` if there is no file, an error naming the file if it
/// cannot be read, is not a snapshot or is in another format.
pub fn load(path: &Path) -> Result<Option<Snapshot>, SnapshotError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let corrupt = |source| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        source,
    };

    /// Just the format, read first so a newer format is reported as such rather than as a
    /// confusing missing field.
    #[derive(Deserialize)]
    struct FormatOnly {
        format: u64,
    }
    let FormatOnly { format } = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if format != u64::from(FORMAT) {
        return Err(SnapshotError::UnsupportedFormat {
            path: path.to_path_buf(),
            found: format,
        });
    }
    serde_json::from_slice(&bytes).map(Some).map_err(corrupt)
}

/// A name for the temporary file no other writer (thread or process) picks, hidden, and
/// recognisably belonging to `file_name`.
fn temporary_name(file_name: &std::ffi::OsStr) -> std::ffi::OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = std::ffi::OsString::from(".");
    name.push(file_name);
    name.push(format!(".{}.{unique}.tmp", std::process::id()));
    name
}

fn write_synced(path: &Path, snapshot: &Snapshot) -> io::Result<()> {
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer(&mut writer, snapshot)?;
    writer.write_all(b"\n")?;
    let file = writer
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

/// Makes a rename in `directory` durable. Only POSIX systems can (and need to) fsync a directory.
fn sync_directory(directory: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(directory)?.sync_all()
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
