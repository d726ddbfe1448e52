//! Messages made by real flytekit (xtask/python/flytekit_literals.py) survive a trip
//! through our types: we decode them, re-encode them, and compare the bytes, and flytekit
//! reads our bytes back to the same Python values.
//!
//! What "same bytes" can mean, found by experiment with flytekit 1.16 on protobuf's upb
//! runtime:
//! - flytekit writes with plain `SerializeToString()`, which puts map entries in hash-table
//!   order, seeded per process: two runs of the same task can write different bytes. So a
//!   multi-entry map cannot be byte-compared against flytekit's own output, only decoded.
//! - `SerializeToString(deterministic=True)` sorts map keys, and for keys of which none is a
//!   prefix of another the order is plain byte order, which is also prost's `BTreeMap`
//!   order: our bytes are identical.
//! - When one key is a proper prefix of another (`o1` and `o10`), upb puts the longer key
//!   first (`o10`, `o1`); prost puts the shorter first. The bytes then differ only in the
//!   order of those map entries. Both orders are valid protobuf; every parser reads either.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use flyte_proto::core::ErrorDocument;
use flyte_proto::visit::{self, UriKind};
use flyte_proto::{io, json};

/// What our re-encoding of a case is expected to equal.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expectation {
    /// No map has two entries, so there is only one valid encoding: flytekit's own bytes.
    IdenticalToFlytekit,
    /// Identical to flytekit's deterministic serialization (not to its default one).
    IdenticalToDeterministic,
    /// The same entries as the deterministic serialization, ordered differently where one
    /// key is a prefix of another.
    PrefixKeysOrderedDifferently,
}

const CASES: &[(&str, Expectation)] = &[
    ("primitives", Expectation::IdenticalToDeterministic),
    ("collections", Expectation::IdenticalToDeterministic),
    ("optional", Expectation::IdenticalToDeterministic),
    ("enum", Expectation::IdenticalToFlytekit),
    ("dataclass", Expectation::IdenticalToFlytekit),
    ("flyte_file", Expectation::IdenticalToDeterministic),
    ("prefix_keys", Expectation::PrefixKeysOrderedDifferently),
    ("error_document", Expectation::IdenticalToFlytekit),
];

fn script() -> PathBuf {
    flyte_test_support::workspace_root().join("xtask/python/flytekit_literals.py")
}

fn run_script(mode: &str, directory: &Path) {
    let output = Command::new(flyte_test_support::python())
        .arg(script())
        .arg(mode)
        .arg(directory)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
    assert!(
        output.status.success(),
        "{} {mode} {} failed ({}):\n{}",
        script().display(),
        directory.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The directory flytekit wrote its messages to, written once per test run.
fn flytekit_messages() -> &'static Path {
    static DIRECTORY: OnceLock<PathBuf> = OnceLock::new();
    DIRECTORY.get_or_init(|| {
        let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flytekit_round_trip");
        // Stale files from an earlier run must not be mistaken for this run's.
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).expect("create the messages directory");
        run_script("write", &directory);
        directory
    })
}

struct ManifestEntry {
    name: String,
    message: String,
    maps_with_several_entries: bool,
    prefix_keys: bool,
}

fn manifest(directory: &Path) -> Vec<ManifestEntry> {
    let text = std::fs::read_to_string(directory.join("manifest.json")).expect("manifest.json");
    let entries: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    let entries = entries.as_array().expect("manifest is a list");
    entries
        .iter()
        .map(|entry| ManifestEntry {
            name: entry["name"].as_str().expect("name").to_owned(),
            message: entry["message"].as_str().expect("message").to_owned(),
            maps_with_several_entries: entry["maps_with_several_entries"].as_bool().expect("flag"),
            prefix_keys: entry["prefix_keys"].as_bool().expect("flag"),
        })
        .collect()
}

fn read(directory: &Path, file: &str) -> Vec<u8> {
    std::fs::read(directory.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// Decodes both of flytekit's serializations of a case, checks they are the same message,
/// writes our encoding to `<case>.rust.pb`, and returns it.
fn decode_and_reencode(directory: &Path, entry: &ManifestEntry) -> Vec<u8> {
    let default_path = directory.join(format!("{}.pb", entry.name));
    let deterministic_path = directory.join(format!("{}.deterministic.pb", entry.name));
    let ours_path = directory.join(format!("{}.rust.pb", entry.name));
    match entry.message.as_str() {
        "LiteralMap" => {
            let message = io::read_literal_map(&default_path).expect("flytekit's bytes decode");
            assert_eq!(
                io::read_literal_map(&deterministic_path).expect("decode"),
                message,
                "{}",
                entry.name
            );
            io::write_literal_map(&ours_path, &message).expect("write ours");
        }
        "ErrorDocument" => {
            let message = io::read_error_document(&default_path).expect("flytekit's bytes decode");
            assert_eq!(
                io::read_error_document(&deterministic_path).expect("decode"),
                message,
                "{}",
                entry.name
            );
            io::write_error_document(&ours_path, &message).expect("write ours");
        }
        other => panic!("the manifest names an unknown message type {other}"),
    }
    read(directory, &format!("{}.rust.pb", entry.name))
}

#[test]
fn flytekit_messages_reencode_to_the_bytes_protobuf_allows_and_flytekit_reads_them_back() {
    let directory = flytekit_messages();
    let entries = manifest(directory);
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        CASES.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        "cases out of step with the script"
    );

    for (entry, (_, expectation)) in entries.iter().zip(CASES) {
        let name = &entry.name;
        // The expectation table must agree with what Python found in the message's maps.
        let implied = match (entry.maps_with_several_entries, entry.prefix_keys) {
            (false, _) => Expectation::IdenticalToFlytekit,
            (true, false) => Expectation::IdenticalToDeterministic,
            (true, true) => Expectation::PrefixKeysOrderedDifferently,
        };
        assert_eq!(
            *expectation, implied,
            "{name}: the table disagrees with the message's maps"
        );

        let ours = decode_and_reencode(directory, entry);
        let flytekit = read(directory, &format!("{name}.pb"));
        let deterministic = read(directory, &format!("{name}.deterministic.pb"));
        match expectation {
            Expectation::IdenticalToFlytekit => {
                assert!(ours == flytekit, "{name}: our bytes differ from flytekit's");
                assert!(
                    ours == deterministic,
                    "{name}: our bytes differ from flytekit's deterministic ones"
                );
            }
            Expectation::IdenticalToDeterministic => {
                assert!(
                    ours == deterministic,
                    "{name}: our bytes differ from flytekit's deterministic ones"
                );
            }
            Expectation::PrefixKeysOrderedDifferently => {
                assert!(
                    ours != deterministic,
                    "{name}: upb's prefix-key order changed; update the docs above"
                );
                assert_eq!(
                    sorted(top_level_entries(&ours)),
                    sorted(top_level_entries(&deterministic)),
                    "{name}"
                );
                let our_keys = top_level_keys(&ours);
                let mut byte_order = our_keys.clone();
                byte_order.sort();
                assert_eq!(
                    our_keys, byte_order,
                    "{name}: prost writes keys in byte order"
                );
                let mut upb_order = our_keys.clone();
                upb_order.sort_by(|a, b| upb_key_order(a, b));
                assert_eq!(
                    top_level_keys(&deterministic),
                    upb_order,
                    "{name}: upb's order"
                );
                assert_eq!(&upb_order[..3], ["o0", "o10", "o1"], "{name}");
            }
        }
    }

    // Last word to flytekit: our bytes parse to the same messages and the same Python values.
    run_script("verify", directory);
}

#[test]
fn visitor_finds_the_uris_of_flytekit_files_and_directories() {
    let outputs = io::read_literal_map(flytekit_messages().join("flyte_file.pb")).expect("decode");
    let mut seen = Vec::new();
    visit::for_each_uri(&outputs, |kind, uri| seen.push((kind, uri.to_owned())));
    assert_eq!(
        seen,
        [
            (UriKind::Blob, "s3://bucket/data/parts/".to_owned()),
            (UriKind::Blob, "s3://bucket/data/report.csv".to_owned()),
        ]
    );
}

#[test]
fn flytekit_values_render_as_readable_json() {
    let directory = flytekit_messages();
    let render = |name: &str| {
        json::literal_map_to_json(&io::read_literal_map(directory.join(name)).expect("decode"))
    };
    assert_eq!(
        render("primitives.pb"),
        serde_json::json!({
            "count": 42,
            "ratio": 3.5,
            "name": "hello, flyte",
            "flag": true,
            "when": "2024-01-02T03:04:05.678901Z",
            "elapsed": "90.0005s",
        })
    );
    assert_eq!(
        render("collections.pb"),
        serde_json::json!({
            "ints": [1, 2, 3],
            "scores": {"alice": 1.5, "bob": 2.0, "carol": -0.25},
            "nested": [["a"], ["b", "c"]],
        })
    );
    assert_eq!(
        render("optional.pb"),
        serde_json::json!({"missing": null, "present": 7})
    );
    assert_eq!(render("enum.pb"), serde_json::json!({"color": "green"}));
    assert_eq!(render("dataclass.pb")["point"]["binary"]["tag"], "msgpack");
    assert_eq!(
        render("flyte_file.pb"),
        serde_json::json!({
            "file": {"blob": {"uri": "s3://bucket/data/report.csv", "format": "", "dimensionality": "SINGLE"}},
            "directory": {"blob": {"uri": "s3://bucket/data/parts/", "format": "", "dimensionality": "MULTIPART"}},
        })
    );
}

#[test]
fn flytekit_error_document_reads_as_the_fields_it_was_built_from() {
    let document: ErrorDocument =
        io::read_error_document(flytekit_messages().join("error_document.pb")).expect("decode");
    let error = document.error.expect("an error");
    assert_eq!(error.code, "USER:ValueError");
    assert!(error.message.ends_with("ValueError: negative input"));
    assert_eq!(
        error.kind(),
        flyte_proto::core::container_error::Kind::NonRecoverable
    );
    assert_eq!(
        error.origin(),
        flyte_proto::core::execution_error::ErrorKind::User
    );
    assert_eq!(
        error.timestamp.map(|t| (t.seconds, t.nanos)),
        Some((1_704_164_645, 678_901_000))
    );
    assert_eq!(error.worker, "worker-0");
}

/// upb's deterministic order for string keys: byte order on the common prefix, and when
/// one key is a prefix of the other, the longer key first.
fn upb_key_order(a: &str, b: &str) -> Ordering {
    let common = a.len().min(b.len());
    a.as_bytes()[..common]
        .cmp(&b.as_bytes()[..common])
        .then_with(|| b.len().cmp(&a.len()))
}

fn sorted(mut entries: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    entries.sort();
    entries
}

/// The raw map entries (field 1, length-delimited) of a serialized LiteralMap, in wire order.
fn top_level_entries(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = bytes;
    let mut entries = Vec::new();
    while !rest.is_empty() {
        assert_eq!(
            read_varint(&mut rest),
            (1 << 3) | 2,
            "a LiteralMap holds only field 1 entries"
        );
        let length = usize::try_from(read_varint(&mut rest)).expect("length fits");
        entries.push(rest[..length].to_vec());
        rest = &rest[length..];
    }
    entries
}

/// The keys of a serialized LiteralMap's entries, in wire order (each entry's key is its
/// field 1, written first by both prost and upb).
fn top_level_keys(bytes: &[u8]) -> Vec<String> {
    top_level_entries(bytes)
        .into_iter()
        .map(|entry| {
            let mut rest = entry.as_slice();
            assert_eq!(
                read_varint(&mut rest),
                (1 << 3) | 2,
                "entry starts with its key"
            );
            let length = usize::try_from(read_varint(&mut rest)).expect("length fits");
            String::from_utf8(rest[..length].to_vec()).expect("keys are UTF-8")
        })
        .collect()
}

fn read_varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes
            .split_first()
            .expect("varint ends before the data does");
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    panic!("varint longer than 10 bytes");
}
