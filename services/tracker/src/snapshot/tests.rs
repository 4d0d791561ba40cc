//! Saving and loading: atomic, loss-free, and clear about damaged files.

use instadash_schemas::vehicle::position::v2::Position;

use super::*;
use crate::state::{Config, Fleet};

fn sample_fleet() -> Fleet {
    let mut fleet = Fleet::new(Config::default());
    for (i, id) in ["car-1", "car-2", "car-3"].into_iter().enumerate() {
        for step in 0..3 {
            let time_ms = 1_760_000_000_000 + step * 1_000;
            let fix = Position {
                vehicle_id: id.into(),
                time_ms,
                lat: 48.1 + i as f64 * 0.01 + step as f64 * 1.234_567e-4,
                lon: 11.5 + step as f64 * 7.654_321e-5,
                speed_kmh: 31.7,
                heading_deg: 12.3,
                altitude_m: Some(520.0),
                accuracy_m: 3.0,
                satellites: 8,
                hdop: None,
            };
            fleet.on_position(&fix, time_ms + 17);
        }
    }
    fleet
}

/// The names in `dir`.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn save_then_load_gives_the_same_snapshot_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.json");
    let fleet = sample_fleet();
    save(&path, &fleet.snapshot()).unwrap();
    assert_eq!(entries(dir.path()), ["tracker.json"]);
    let loaded = load(&path).unwrap().expect("a snapshot");
    assert_eq!(loaded, fleet.snapshot());

    // Replacing it works the same way.
    let mut fleet = fleet;
    fleet.check_silence(i64::MAX);
    save(&path, &fleet.snapshot()).unwrap();
    assert_eq!(entries(dir.path()), ["tracker.json"]);
    assert_eq!(load(&path).unwrap(), Some(fleet.snapshot()));
}

#[test]
fn a_missing_file_is_no_snapshot_yet() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(load(&dir.path().join("none.json")).unwrap(), None);
}

#[test]
fn a_failed_save_leaves_the_old_file_and_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.json");
    save(&path, &sample_fleet().snapshot()).unwrap();
    // A directory where the file should go: the rename fails.
    let blocked = dir.path().join("blocked");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("inside"), b"x").unwrap();
    let error = save(&blocked, &sample_fleet().snapshot()).unwrap_err();
    assert!(error.to_string().contains("blocked"), "{error}");
    assert_eq!(entries(dir.path()), ["blocked", "tracker.json"]);
    assert!(load(&path).unwrap().is_some());
    // A directory that cannot be made: its parent is a file.
    let error = save(
        &path.join("below-a-file/tracker.json"),
        &sample_fleet().snapshot(),
    )
    .unwrap_err();
    assert!(matches!(error, SnapshotError::Io { .. }), "{error}");
}

#[test]
fn a_missing_directory_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/tracker/state.json");
    save(&path, &sample_fleet().snapshot()).unwrap();
    assert!(load(&path).unwrap().is_some());
}

#[test]
fn a_corrupt_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.json");
    let good = serde_json::to_vec(&sample_fleet().snapshot()).unwrap();
    let damaged: [&[u8]; 6] = [
        b"",
        b"not json",
        &good[..good.len() / 2],
        br#"{"format":1}"#,
        br#"{"format":1,"vehicles":[{"vehicle_id":"a"}]}"#,
        &[0xff, 0xfe, 0x00],
    ];
    for bytes in damaged {
        fs::write(&path, bytes).unwrap();
        let error = load(&path).unwrap_err();
        assert!(matches!(error, SnapshotError::Corrupt { .. }), "{error}");
        let message = error.to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains("corrupt"),
            "{message}"
        );
    }
}

#[test]
fn another_format_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.json");
    fs::write(&path, br#"{"format":2,"fleet":{}}"#).unwrap();
    let error = load(&path).unwrap_err();
    assert!(
        matches!(error, SnapshotError::UnsupportedFormat { found: 2, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}

#[test]
fn an_unreadable_path_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = load(dir.path()).unwrap_err();
    assert!(
        matches!(error, SnapshotError::Io { action: "read", .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains(&dir.path().display().to_string()),
        "{error}"
    );
}

#[test]
fn a_restored_fleet_from_a_file_equals_the_saved_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.json");
    let fleet = sample_fleet();
    save(&path, &fleet.snapshot()).unwrap();
    let restored = Fleet::restore(Config::default(), load(&path).unwrap().unwrap());
    for id in ["car-1", "car-2", "car-3"] {
        assert_eq!(restored.state(id), fleet.state(id));
    }
    assert_eq!(restored.snapshot(), fleet.snapshot());
}
