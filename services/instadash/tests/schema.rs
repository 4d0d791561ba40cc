//! `instadash schema check` as CI runs it: passes on the shipped schemas, fails with a clear
//! message on an incompatible change.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn check(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_instadash"))
        .args(["schema", "check", "--dir"])
        .arg(dir)
        .output()
        .expect("instadash runs")
}

/// A copy of a schema directory, to change.
fn copy_of(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    instadash_schemas::Catalog::copy_dir(dir, copy.path()).unwrap();
    copy
}

#[test]
fn the_shipped_schemas_pass() {
    let out = check(&shipped());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": ok ("), "{stdout}");
}

#[test]
fn an_incompatible_change_fails_naming_the_type_and_the_change() {
    let dir = copy_of(&shipped());
    // A v2 position whose `speed_kmh` becomes an integer: v1 data (decimals) would no longer read.
    let file = dir.path().join("vehicle/position.v2.avsc");
    let mut avsc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    let speed = avsc["fields"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["name"] == "speed_kmh")
        .expect("position has a speed");
    speed["type"] = "int".into();
    fs::write(&file, avsc.to_string()).unwrap();

    let out = check(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an incompatible change must fail the check"
    );
    assert!(stderr.contains("instadash.vehicle.position v2"), "{stderr}");
    assert!(stderr.contains("speed_kmh"), "{stderr}");
    assert!(stderr.contains("incompatible with v1"), "{stderr}");
}
