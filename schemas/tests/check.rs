//! `check` on the shipped directory, and on copies broken on purpose: each breakage must be
//! reported with the type, the version, the file and the change in words.

use std::fs;
use std::path::{Path, PathBuf};

use instadash_schemas::{Catalog, bindings, check};
use serde_json::{Value, json};

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of the schema directory, to change.
fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    Catalog::copy_dir(&shipped(), tmp.path()).unwrap();
    tmp
}

fn edit_json(dir: &Path, file: &str, change: impl FnOnce(&mut Value)) {
    let path = dir.join(file);
    let mut doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut doc);
    fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
}

/// The problems of a directory that must fail, one line each.
fn problems(dir: &Path) -> Vec<String> {
    match check(dir) {
        Ok(report) => panic!("check passed ({report}) but should have failed"),
        Err(problems) => {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            // Shown with --nocapture: what a person running the check would read.
            eprintln!(
                "{}",
                lines
                    .iter()
                    .map(|p| format!("  - {p}\n"))
                    .collect::<String>()
            );
            lines
        }
    }
}

fn assert_reported(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "no problem contains\n  {expected}\nproblems:{}",
        problems
            .iter()
            .map(|p| format!("\n  - {p}"))
            .collect::<String>()
    );
}

#[test]
fn the_shipped_directory_passes() {
    match check(&shipped()) {
        Ok(report) => {
            assert_eq!(report.types, Catalog::embedded().messages.len());
            assert_eq!(report.versions, bindings().len());
            // position v1 -> v2 in JSON and in Avro.
            assert_eq!(report.compatibility_pairs, 2, "{report}");
            println!("{report}");
        }
        Err(problems) => panic!(
            "{}",
            problems
                .iter()
                .map(|p| format!("\n  - {p}"))
                .collect::<String>()
        ),
    }
}

#[test]
fn a_copy_of_the_directory_passes() {
    let dir = copy();
    check(dir.path()).unwrap();
}

#[test]
fn a_new_required_json_property_is_incompatible() {
    let dir = copy();
    edit_json(dir.path(), "vehicle/position.v2.schema.json", |doc| {
        doc["properties"]["fix_quality"] = json!({"type": "string"});
        doc["required"]
            .as_array_mut()
            .unwrap()
            .push(json!("fix_quality"));
    });
    let problems = problems(dir.path());
    assert_reported(
        &problems,
        "instadash.vehicle.position v2 (vehicle/position.v2.schema.json): incompatible with v1: new required property \
         `fix_quality` at the top level: data written with v1 lacks it, so v2 readers would reject it",
    );
    // The binding's example lacks it too.
    assert_reported(
        &problems,
        "instadash.vehicle.position v2 (vehicle/position.v2.schema.json): example() is not valid",
    );
}

#[test]
fn narrowing_or_removing_in_json_is_incompatible() {
    let dir = copy();
    edit_json(dir.path(), "vehicle/position.v2.schema.json", |doc| {
        doc["properties"]["satellites"]["maximum"] = json!(32);
        doc["properties"]["speed_kmh"]["type"] = json!("integer");
        doc["properties"]
            .as_object_mut()
            .unwrap()
            .remove("altitude_m");
    });
    let problems = problems(dir.path());
    for expected in [
        "incompatible with v1: `maximum` of `satellites` tightened from 255 to 32: data written with v1 would be rejected by v2 readers",
        "incompatible with v1: the type of `speed_kmh` changed from number to integer: narrowed",
        "incompatible with v1: property `altitude_m` was removed",
        // The Avro record still has the field the JSON Schema lost.
        "(vehicle/position.v2.avsc): Avro field `altitude_m` is not a property of the JSON Schema",
    ] {
        assert_reported(&problems, expected);
    }
}

#[test]
fn a_changed_avro_type_is_incompatible_both_ways() {
    let dir = copy();
    edit_json(dir.path(), "vehicle/position.v2.avsc", |doc| {
        let fields = doc["fields"].as_array_mut().unwrap();
        let satellites = fields
            .iter_mut()
            .find(|f| f["name"] == "satellites")
            .unwrap();
        satellites["type"] = json!("string");
    });
    let problems = problems(dir.path());
    assert_reported(
        &problems,
        "instadash.vehicle.position v2 (vehicle/position.v2.avsc): incompatible with v1 (backward): v2 readers cannot read data written with v1",
    );
    assert_reported(
        &problems,
        "instadash.vehicle.position v2 (vehicle/position.v2.avsc): incompatible with v1 (forward): v1 readers cannot read data written with v2",
    );
    assert_reported(
        &problems,
        "instadash.vehicle.position v2 (vehicle/position.v2.avsc): example() does not fit the Avro schema",
    );
}

#[test]
fn a_new_avro_field_without_default_is_incompatible() {
    let dir = copy();
    edit_json(dir.path(), "vehicle/position.v2.avsc", |doc| {
        let hdop = doc["fields"].as_array_mut().unwrap().last_mut().unwrap();
        hdop["type"] = json!("double");
        hdop.as_object_mut().unwrap().remove("default");
    });
    let problems = problems(dir.path());
    assert_reported(
        &problems,
        "incompatible with v1 (backward): v2 readers cannot read data written with v1",
    );
    assert_reported(
        &problems,
        "field `hdop` is required in Avro but optional in the JSON Schema",
    );
}

#[test]
fn a_deleted_file_is_missing_and_an_extra_file_is_orphaned() {
    let dir = copy();
    fs::remove_file(dir.path().join("vehicle/obd-reading.v1.avsc")).unwrap();
    fs::copy(
        dir.path().join("vehicle/position.v2.avsc"),
        dir.path().join("vehicle/position.v3.avsc"),
    )
    .unwrap();
    fs::write(dir.path().join("alert/escalated.v1.schema.json"), "{}").unwrap();
    let problems = problems(dir.path());
    assert_reported(
        &problems,
        "instadash.vehicle.obd-reading v1 (vehicle/obd-reading.v1.avsc): missing: the catalog lists version 1 in avro",
    );
    assert_reported(
        &problems,
        "instadash.vehicle.position (vehicle/position.v3.avsc): orphaned: the catalog lists versions [1, 2] in avro and json",
    );
    assert_reported(
        &problems,
        "(alert/escalated.v1.schema.json): orphaned: no catalog entry has a schema file by this name",
    );
}

#[test]
fn invalid_and_closed_json_schemas_are_rejected() {
    let dir = copy();
    edit_json(dir.path(), "trip/started.v1.schema.json", |doc| {
        doc["properties"]["start_lat"]["type"] = json!("decimal");
    });
    edit_json(dir.path(), "alert/cleared.v1.schema.json", |doc| {
        doc["additionalProperties"] = json!(false);
        doc["$id"] = json!("urn:instadash:schema:instadash.alert.cleared:v2");
    });
    let problems = problems(dir.path());
    assert_reported(
        &problems,
        "instadash.trip.started v1 (trip/started.v1.schema.json): is not a valid JSON Schema (meta-schema check at `/properties/start_lat/type`)",
    );
    assert_reported(
        &problems,
        "instadash.alert.cleared v1 (alert/cleared.v1.schema.json): `additionalProperties: false` at the top level: objects must stay open",
    );
    assert_reported(
        &problems,
        "instadash.alert.cleared v1 (alert/cleared.v1.schema.json): `$id` must be \"urn:instadash:schema:instadash.alert.cleared:v1\"",
    );
}

#[test]
fn catalog_and_bindings_must_match() {
    let dir = copy();
    let catalog = fs::read_to_string(dir.path().join("catalog.toml")).unwrap();
    // Drop version 2 of position from the catalog, and its files.
    let catalog = catalog.replacen("versions = [1, 2]", "versions = [1]", 1);
    fs::write(dir.path().join("catalog.toml"), catalog).unwrap();
    fs::remove_file(dir.path().join("vehicle/position.v2.avsc")).unwrap();
    fs::remove_file(dir.path().join("vehicle/position.v2.schema.json")).unwrap();
    let problems = problems(dir.path());
    assert_reported(
        &problems,
        "instadash.vehicle.position v2: the Rust binding `Position` has no catalog entry",
    );
    assert_reported(
        &problems,
        "instadash.vehicle.position v1: binding `Position` embeds Avro schemas of versions [1, 2], expected [1]",
    );
}

#[test]
fn an_invalid_catalog_is_reported_by_type() {
    let dir = copy();
    let catalog = fs::read_to_string(dir.path().join("catalog.toml")).unwrap();
    let catalog = catalog.replacen(
        "routing_key = \"instadash.vehicle.position.{vehicle_id}\"",
        "routing_key = \"instadash.vehicle.position.#\"",
        1,
    );
    fs::write(dir.path().join("catalog.toml"), catalog).unwrap();
    let problems = problems(dir.path());
    assert_reported(
        &problems,
        "instadash.vehicle.position (catalog.toml): an event's routing key is `<type>.<subject>`: expected `instadash.vehicle.position.{vehicle_id}`",
    );
}
