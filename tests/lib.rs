//! Cross-service tests live in `tests/`: each starts Instadash programs as separate processes and
//! talks to them only through the broker, as the services talk to each other.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace's root directory.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test crate lives inside the workspace")
}

/// A finished command's status and output, for a failure message.
pub fn describe(command: &str, output: &Output) -> String {
    format!(
        "{command}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs a set-up script (`scripts/python-env`, `scripts/browser-env`), which installs what a test
/// needs if it is missing and prints the path of the program it provides. Panics with the
/// script's output if it cannot: such tests never skip. Blocking.
pub fn set_up(script: &str) -> PathBuf {
    let root = workspace_root();
    let output = Command::new(root.join(script))
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot start {script}: {error}"));
    assert!(
        output.status.success(),
        "{script} could not set up what the test needs\n{}",
        describe(script, &output)
    );
    let program = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(
        program.is_file(),
        "{script} printed no program\n{}",
        describe(script, &output)
    );
    program
}

/// Builds `instadash` (a no-op when `cargo build --workspace` already did), off the async runtime.
pub async fn build_instadash() -> escargot::CargoRun {
    tokio::task::spawn_blocking(|| {
        escargot::CargoBuild::new()
            .package("instadash")
            .bin("instadash")
            .run()
            .expect("instadash builds")
    })
    .await
    .expect("the build task ends")
}
