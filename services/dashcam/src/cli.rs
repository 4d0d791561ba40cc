//! The dashcam service's command-line settings, each with an environment fallback.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::service::{DashcamOptions, MAX_CHUNK_BYTES, Role};

#[derive(Debug, Clone, clap::Args)]
pub struct DashcamArgs {
    /// What this instance does: `all` (trigger and workers), `trigger` (turn captured clips into
    /// jobs) or `workers` (only work on jobs, e.g. in scaled-out containers).
    #[arg(long, env = "INSTADASH_DASHCAM_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// Competing clip workers in this process.
    #[arg(long, env = "INSTADASH_DASHCAM_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Directory of the clip store (default `<data-dir>/clips`).
    #[arg(long, env = "INSTADASH_DASHCAM_CLIP_DIR")]
    pub clip_dir: Option<PathBuf>,
    /// Bytes asked of the car per chunk request (at most 262144).
    #[arg(long, env = "INSTADASH_DASHCAM_CHUNK_BYTES", default_value_t = MAX_CHUNK_BYTES)]
    pub chunk_bytes: u32,
    /// How long one chunk request may take, milliseconds.
    #[arg(
        long,
        env = "INSTADASH_DASHCAM_REQUEST_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub request_timeout_ms: u64,
    /// The service that answers clip requests for the cars.
    #[arg(
        long,
        env = "INSTADASH_DASHCAM_CAR_SERVICE",
        default_value = "simulator"
    )]
    pub car_service: String,
}

impl DashcamArgs {
    /// The options these settings describe, the clips under `data_dir` (`clips/`) unless
    /// --clip-dir says otherwise; the rest is checked when the service starts.
    pub fn options(&self, data_dir: &Path) -> anyhow::Result<DashcamOptions> {
        anyhow::ensure!(
            self.request_timeout_ms > 0,
            "--request-timeout-ms must be positive"
        );
        Ok(DashcamOptions {
            role: self.role,
            workers: self.workers,
            store_root: self
                .clip_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("clips")),
            chunk_bytes: self.chunk_bytes,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            car_service: self.car_service.clone(),
            ..DashcamOptions::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        dashcam: DashcamArgs,
    }

    #[test]
    fn defaults_and_flags_make_options() {
        let options = Command::parse_from(["dashcam"])
            .dashcam
            .options(Path::new("data"))
            .expect("valid");
        assert_eq!(options.role, Role::All);
        assert_eq!(options.workers, 2);
        assert_eq!(options.store_root, PathBuf::from("data/clips"));
        assert_eq!(options.chunk_bytes, 262_144);
        assert!(options.validate(1024 * 1024).is_ok());

        let options = Command::parse_from([
            "dashcam",
            "--role",
            "workers",
            "--workers",
            "4",
            "--chunk-bytes",
            "65536",
        ])
        .dashcam
        .options(Path::new("/srv"))
        .expect("valid");
        assert_eq!((options.role, options.workers), (Role::Workers, 4));
        assert_eq!(options.store_root, PathBuf::from("/srv/clips"));
        assert_eq!(options.chunk_bytes, 65_536);
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let invalid = |args: &[&str], limit: usize| {
            let mut all = vec!["dashcam"];
            all.extend_from_slice(args);
            let options = Command::parse_from(all)
                .dashcam
                .options(Path::new("data"))?;
            options.validate(limit)
        };
        assert!(invalid(&["--chunk-bytes", "0"], 1 << 20).is_err());
        assert!(invalid(&["--chunk-bytes", "262145"], 1 << 20).is_err());
        assert!(invalid(&["--workers", "0"], 1 << 20).is_err());
        assert!(invalid(&["--workers", "0", "--role", "trigger"], 1 << 20).is_ok());
        assert!(invalid(&["--request-timeout-ms", "0"], 1 << 20).is_err());
        // Base64 of 256 KiB does not fit a 256 KiB message limit.
        let error = invalid(&[], 256 * 1024).unwrap_err().to_string();
        assert!(error.contains("message limit"), "{error}");
    }
}
