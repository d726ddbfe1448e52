//! The example task's binary run as Flyte runs it, on each object-store emulator
//! `cargo xtask test` starts: inputs.pb and the CSV file in the bucket, the storage
//! settings in the environment (as in a task pod), and what it leaves under the output
//! prefix read back by flytekit, as a downstream Python task would read it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use flyte_proto::literal;
use flyte_storage::Storage;
use flyte_test_support::emulators::Emulator;
use serde_json::{Value, json};

const CSV: &str = "id,city,note\n\
                   1,london,\"fog, mostly\"\n\
                   2,paris,\n\
                   3,london,\"said \"\"hi\"\"\"\n";

const EMULATORS: [Emulator; 3] = [Emulator::S3, Emulator::Gcs, Emulator::Azure];

/// A run's remote places: `<prefix>/in`, `<prefix>/out`, `<prefix>/raw`.
struct Run {
    emulator: Emulator,
    storage: Storage,
    prefix: String,
}

impl Run {
    async fn new(emulator: Emulator) -> Run {
        emulator.prepare().await;
        Run {
            emulator,
            storage: Storage::new(emulator.config()),
            prefix: emulator.unique_prefix(),
        }
    }

    fn uri(&self, path: &str) -> String {
        flyte_storage::join(&self.prefix, path)
    }

    /// Uploads `csv` as the task's input `rows` and writes inputs.pb beside it.
    async fn upload_inputs(&self, csv: &str, column: &str, scratch: &Path) {
        let local_csv = scratch.join("people.csv");
        std::fs::write(&local_csv, csv).expect("write the csv");
        let rows_uri = self.uri("in/people.csv");
        self.storage
            .put_file(&local_csv, &rows_uri)
            .await
            .expect("upload the csv");
        let inputs = literal::literal_map([
            (
                "rows",
                literal::blob(
                    rows_uri,
                    "csv",
                    flyte_proto::core::blob_type::BlobDimensionality::Single,
                ),
            ),
            ("column", literal::string(column)),
        ]);
        let local_inputs = scratch.join("inputs.pb");
        flyte_proto::io::write_literal_map(&local_inputs, &inputs).expect("write inputs.pb");
        self.storage
            .put_file(&local_inputs, &self.uri("in/inputs.pb"))
            .await
            .expect("upload inputs.pb");
    }

    /// Runs the binary with the emulator's settings as its whole environment, so that
    /// nothing but what a pod would set configures it.
    fn run_binary(&self) {
        let output = Command::new(env!("CARGO_BIN_EXE_partition-csv"))
            .args(["--inputs", &self.uri("in/inputs.pb")])
            .args(["--output-prefix", &self.uri("out")])
            .args(["--raw-output-data-prefix", &self.uri("raw")])
            .env_clear()
            .envs(self.emulator.flytekit_env())
            .output()
            .expect("the binary starts");
        assert!(
            output.status.success(),
            "partition-csv on {:?} exited with {}:\n{}",
            self.emulator,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// What flytekit reads under the output prefix (`outputs` or `error`).
    fn flytekit_reads(&self, what: &str, work: &Path) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/flytekit_reads.py");
        let output = Command::new(flyte_test_support::python())
            .arg(script)
            .args([what, &self.uri("out"), work.to_str().expect("utf-8")])
            .envs(self.emulator.flytekit_env())
            .env("FLYTE_SDK_LOGGING_LEVEL", "30")
            .output()
            .expect("python starts");
        assert!(
            output.status.success(),
            "flytekit_reads.py {what} on {:?} failed:\n{}\n{}",
            self.emulator,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("flytekit_reads.py prints JSON")
    }

    /// The keys of every object under `<prefix>/<path>`, relative to it.
    async fn objects_under(&self, path: &str) -> Vec<String> {
        let uri = self.uri(path);
        self.storage
            .list(&uri)
            .await
            .unwrap_or_else(|e| panic!("listing {uri}: {e}"))
            .into_iter()
            .map(|object| object.key)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_partitions_are_a_flyte_directory_flytekit_reads_on_every_object_store() {
    for emulator in EMULATORS {
        let scratch = tempfile::tempdir().expect("tempdir");
        let run = Run::new(emulator).await;
        run.upload_inputs(CSV, "city", scratch.path()).await;
        run.run_binary();
        let read = run.flytekit_reads("outputs", scratch.path());
        let expected_parts: BTreeMap<&str, &str> = BTreeMap::from([
            (
                "part-london.csv",
                "id,city,note\n1,london,\"fog, mostly\"\n3,london,\"said \"\"hi\"\"\"\n",
            ),
            ("part-paris.csv", "id,city,note\n2,paris,\n"),
        ]);
        assert_eq!(
            read,
            json!({"count": 3, "parts": expected_parts}),
            "on {emulator:?}"
        );
        // flytekit's layout: the directory is one random 32-hex prefix under the raw
        // output prefix.
        let raw = run.objects_under("raw").await;
        assert_eq!(raw.len(), 2, "{raw:?}");
        let hex = raw[0].split('/').next().expect("a prefix");
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{raw:?} on {emulator:?}"
        );
        assert_eq!(
            raw,
            [
                format!("{hex}/part-london.csv"),
                format!("{hex}/part-paris.csv")
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_row_is_a_user_error_flytekit_reads_and_nothing_is_uploaded() {
    for emulator in EMULATORS {
        let scratch = tempfile::tempdir().expect("tempdir");
        let run = Run::new(emulator).await;
        run.upload_inputs("id,city\n1,london\n2\n", "city", scratch.path())
            .await;
        run.run_binary();
        let error = run.flytekit_reads("error", scratch.path());
        assert_eq!(error["code"], "USER:RuntimeError", "{error}");
        // flytekit's ContainerError.Kind NON_RECOVERABLE and ExecutionError.ErrorKind USER.
        assert_eq!(
            (error["kind"].as_i64(), error["origin"].as_i64()),
            (Some(0), Some(1))
        );
        let message = error["message"].as_str().expect("a message");
        assert!(
            message.contains(
                "line 3 of the CSV file has 1 fields where the header has 2: give every row one field per column"
            ),
            "{message}"
        );
        assert_eq!(run.objects_under("raw").await, Vec::<String>::new());
        assert_eq!(
            run.objects_under("out").await,
            ["error.pb"],
            "on {emulator:?}"
        );
    }
}
