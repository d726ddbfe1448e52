//! The storage stall bounds and progress interval: our own `PYFLYTE_EXECUTE_STORAGE_*`
//! variables (flytekit has none), defaulted, and checked when the configuration loads
//! so that no zero, negative or absurd value reaches the storage.

use flyte_config::{ConfigError, Dirs, Env, FlyteConfig, StorageTimeouts};

const CONNECT: &str = "PYFLYTE_EXECUTE_STORAGE_CONNECT_TIMEOUT_SECONDS";
const NO_PROGRESS: &str = "PYFLYTE_EXECUTE_STORAGE_NO_PROGRESS_TIMEOUT_SECONDS";
const PROGRESS: &str = "PYFLYTE_EXECUTE_STORAGE_PROGRESS_INTERVAL_SECONDS";

fn load(env: &[(&str, &str)]) -> Result<FlyteConfig, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshot: Env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    FlyteConfig::load(
        &snapshot,
        &Dirs {
            home: None,
            current: Some(dir.path().to_path_buf()),
        },
    )
}

fn timeouts(env: &[(&str, &str)]) -> StorageTimeouts {
    load(env).expect("loads").storage.timeouts
}

#[test]
fn unset_or_empty_variables_give_the_defaults() {
    let defaults = StorageTimeouts {
        connect_seconds: 10,
        no_progress_seconds: 60,
        progress_interval_seconds: 10,
    };
    assert_eq!(timeouts(&[]), defaults);
    assert_eq!(
        timeouts(&[(CONNECT, ""), (NO_PROGRESS, " "), (PROGRESS, "")]),
        defaults
    );
}

#[test]
fn set_variables_are_read_as_whole_seconds() {
    assert_eq!(
        timeouts(&[(CONNECT, "3"), (NO_PROGRESS, " 120 "), (PROGRESS, "0")]),
        StorageTimeouts {
            connect_seconds: 3,
            no_progress_seconds: 120,
            progress_interval_seconds: 0,
        }
    );
}

#[test]
fn zero_negative_huge_or_non_numeric_values_are_refused_naming_the_variable() {
    for (name, value) in [
        (CONNECT, "0"),
        (CONNECT, "301"),
        (NO_PROGRESS, "0"),
        (NO_PROGRESS, "-5"),
        (NO_PROGRESS, "9223372036854775807"),
        (NO_PROGRESS, "99999999999999999999999"),
        (PROGRESS, "3601"),
    ] {
        let error = load(&[(name, value)]).expect_err("refused");
        assert!(
            matches!(error, ConfigError::OutOfRange { .. }),
            "{name}={value}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(name), "{message}");
        assert!(message.contains("whole seconds"), "{message}");
    }
    for value in ["1.5", "ten", "10s"] {
        let error = load(&[(NO_PROGRESS, value)]).expect_err("refused");
        assert!(
            matches!(error, ConfigError::NotAnInteger { .. }),
            "{value}: {error:?}"
        );
        assert!(error.to_string().contains(NO_PROGRESS), "{error}");
    }
}
