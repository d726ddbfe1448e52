//! The upload settings (encryption, storage class, ACL, access tier): read from the
//! environment, the legacy INI file and the flytectl YAML file, checked at load, and
//! every refusal naming the variable or the file and key it came from.

use std::path::PathBuf;

use flyte_config::{ConfigError, Dirs, Env, FlyteConfig, Source};

/// A working directory in a temp dir, with config files written into it.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    /// Loads with `env`, plus `FLYTECTL_CONFIG` pointing at `file` when given.
    fn load(
        &self,
        env: &[(&str, &str)],
        file: Option<&PathBuf>,
    ) -> Result<FlyteConfig, ConfigError> {
        let mut snapshot: Env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(file) = file {
            snapshot = snapshot.with("FLYTECTL_CONFIG", file.display().to_string());
        }
        FlyteConfig::load(
            &snapshot,
            &Dirs {
                home: None,
                current: Some(self.dir.path().to_path_buf()),
            },
        )
    }
}

fn env_load(env: &[(&str, &str)]) -> Result<FlyteConfig, ConfigError> {
    Sandbox::new().load(env, None)
}

/// The refusal of `env`, as its one-line message.
fn refusal(env: &[(&str, &str)]) -> String {
    let message = env_load(env).expect_err("refused").to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    message
}

#[test]
fn upload_settings_are_unset_by_default() {
    let config = env_load(&[]).expect("loads");
    let storage = &config.storage;
    assert_eq!(storage.s3.upload, Default::default());
    assert_eq!(storage.gcs.upload, Default::default());
    assert_eq!(storage.azure.upload, Default::default());
    assert_eq!(
        config.source_of("storage.s3.upload.acl"),
        Some(&Source::Default)
    );
}

#[test]
fn environment_values_are_normalised_to_the_stores_spelling() {
    let config = env_load(&[
        ("FLYTE_AWS_SERVER_SIDE_ENCRYPTION", "AWS:KMS"),
        ("FLYTE_AWS_SSE_KMS_KEY_ID", "alias/flyte"),
        ("FLYTE_AWS_BUCKET_KEY_ENABLED", "false"),
        ("FLYTE_AWS_STORAGE_CLASS", "intelligent_tiering"),
        ("FLYTE_AWS_ACL", "Bucket-Owner-Full-Control"),
        ("FLYTE_GCP_STORAGE_CLASS", "coldline"),
        ("FLYTE_AZURE_ACCESS_TIER", "ARCHIVE"),
        ("FLYTE_AZURE_ENCRYPTION_SCOPE", "scope1"),
    ])
    .expect("loads");
    let s3 = &config.storage.s3.upload;
    assert_eq!(s3.server_side_encryption.as_deref(), Some("aws:kms"));
    assert_eq!(s3.sse_kms_key_id.as_deref(), Some("alias/flyte"));
    assert_eq!(s3.bucket_key_enabled, Some(false));
    assert_eq!(s3.storage_class.as_deref(), Some("INTELLIGENT_TIERING"));
    assert_eq!(s3.acl.as_deref(), Some("bucket-owner-full-control"));
    assert_eq!(
        config.storage.gcs.upload.storage_class.as_deref(),
        Some("COLDLINE")
    );
    assert_eq!(
        config.storage.azure.upload.access_tier.as_deref(),
        Some("Archive")
    );
    assert_eq!(
        config.source_of("storage.s3.upload.acl"),
        Some(&Source::Env {
            name: "FLYTE_AWS_ACL".into()
        })
    );
}

#[test]
fn yaml_keys_under_storage_upload_are_read_and_the_environment_wins() {
    let sb = Sandbox::new();
    let yaml = sb.file(
        "config.yaml",
        "storage:\n  upload:\n    s3:\n      server-side-encryption: AES256\n      acl: private\n    gcs:\n      kms-key-name: projects/p/locations/l/keyRings/r/cryptoKeys/k\n    azure:\n      access-tier: Cool\n",
    );
    let config = sb
        .load(&[("FLYTE_AWS_ACL", "bucket-owner-read")], Some(&yaml))
        .expect("loads");
    let s3 = &config.storage.s3.upload;
    assert_eq!(s3.server_side_encryption.as_deref(), Some("AES256"));
    assert_eq!(s3.acl.as_deref(), Some("bucket-owner-read"));
    assert_eq!(
        config.storage.gcs.upload.kms_key_name.as_deref(),
        Some("projects/p/locations/l/keyRings/r/cryptoKeys/k")
    );
    assert_eq!(
        config.storage.azure.upload.access_tier.as_deref(),
        Some("Cool")
    );
    assert_eq!(
        config.source_of("storage.s3.upload.server_side_encryption"),
        Some(&Source::Yaml {
            path: yaml.clone(),
            key: "storage.upload.s3.server-side-encryption".into()
        })
    );
    let report = config.describe();
    assert!(
        report.contains("storage.s3.upload.server_side_encryption")
            && report.contains("storage.upload.s3.server-side-encryption"),
        "{report}"
    );
}

#[test]
fn ini_options_in_the_provider_sections_are_read() {
    let sb = Sandbox::new();
    let ini = sb.file(
        "flytekit.config",
        "[aws]\nserver_side_encryption = aws:kms\nsse_kms_key_id = arn:aws:kms:us-east-1:1:key/k\nbucket_key_enabled = yes\n[gcp]\nstorage_class = ARCHIVE\n[azure]\nencryption_scope = scope2\n",
    );
    let config = sb.load(&[], Some(&ini)).expect("loads");
    let s3 = &config.storage.s3.upload;
    assert_eq!(s3.server_side_encryption.as_deref(), Some("aws:kms"));
    assert_eq!(
        s3.sse_kms_key_id.as_deref(),
        Some("arn:aws:kms:us-east-1:1:key/k")
    );
    assert_eq!(s3.bucket_key_enabled, Some(true));
    assert_eq!(
        config.storage.gcs.upload.storage_class.as_deref(),
        Some("ARCHIVE")
    );
    assert_eq!(
        config.storage.azure.upload.encryption_scope.as_deref(),
        Some("scope2")
    );
}

#[test]
fn unknown_values_stop_loading_naming_the_variable_and_the_choices() {
    for (name, value, choice) in [
        (
            "FLYTE_AWS_SERVER_SIDE_ENCRYPTION",
            "aws:kms:dsse",
            "AES256, aws:kms",
        ),
        ("FLYTE_AWS_STORAGE_CLASS", "COLD", "STANDARD_IA"),
        (
            "FLYTE_AWS_ACL",
            "owner-full-control",
            "bucket-owner-full-control",
        ),
        ("FLYTE_GCP_STORAGE_CLASS", "GLACIER", "NEARLINE"),
        (
            "FLYTE_AZURE_ACCESS_TIER",
            "Premium",
            "Hot, Cool, Cold, Archive",
        ),
    ] {
        let message = refusal(&[(name, value)]);
        assert!(
            message.contains(&format!("environment variable {name}"))
                && message.contains(&format!("{value:?}"))
                && message.contains(choice),
            "{message}"
        );
    }
}

#[test]
fn empty_keys_and_scopes_stop_loading_naming_their_source() {
    for (env, name) in [
        (
            vec![
                ("FLYTE_AWS_SERVER_SIDE_ENCRYPTION", "aws:kms"),
                ("FLYTE_AWS_SSE_KMS_KEY_ID", ""),
            ],
            "FLYTE_AWS_SSE_KMS_KEY_ID",
        ),
        (
            vec![("FLYTE_GCP_KMS_KEY_NAME", " ")],
            "FLYTE_GCP_KMS_KEY_NAME",
        ),
        (
            vec![("FLYTE_AZURE_ENCRYPTION_SCOPE", "")],
            "FLYTE_AZURE_ENCRYPTION_SCOPE",
        ),
    ] {
        let message = refusal(&env);
        assert!(
            message.contains(&format!("environment variable {name} is empty")),
            "{message}"
        );
    }
}

#[test]
fn an_empty_kms_key_in_the_yaml_file_names_the_file_and_key() {
    let sb = Sandbox::new();
    let yaml = sb.file(
        "config.yaml",
        "storage:\n  upload:\n    s3:\n      server-side-encryption: aws:kms\n      sse-kms-key-id: \"\"\n",
    );
    let message = sb.load(&[], Some(&yaml)).expect_err("refused").to_string();
    assert!(
        message.contains("key `storage.upload.s3.sse-kms-key-id`")
            && message.contains(&yaml.display().to_string()),
        "{message}"
    );
}

#[test]
fn an_unknown_acl_in_the_ini_file_names_the_file_section_and_option() {
    let sb = Sandbox::new();
    let ini = sb.file("flytekit.config", "[aws]\nacl = everyone\n");
    let message = sb.load(&[], Some(&ini)).expect_err("refused").to_string();
    assert!(
        message.contains("option `acl` in section [aws]")
            && message.contains(&ini.display().to_string()),
        "{message}"
    );
}

#[test]
fn kms_settings_without_sse_kms_stop_loading_naming_both_settings() {
    for env in [
        vec![("FLYTE_AWS_SSE_KMS_KEY_ID", "alias/flyte")],
        vec![
            ("FLYTE_AWS_SERVER_SIDE_ENCRYPTION", "AES256"),
            ("FLYTE_AWS_SSE_KMS_KEY_ID", "alias/flyte"),
        ],
        vec![("FLYTE_AWS_BUCKET_KEY_ENABLED", "true")],
    ] {
        let message = refusal(&env);
        let (name, _) = env.last().expect("a variable");
        assert!(
            message.contains(&format!("environment variable {name} is set"))
                && message.contains("storage.s3.upload.server_side_encryption")
                && message.contains("aws:kms"),
            "{message}"
        );
    }
}

#[test]
fn a_malformed_gcs_kms_key_name_stops_loading() {
    let message = refusal(&[("FLYTE_GCP_KMS_KEY_NAME", "my-key")]);
    assert!(
        message.contains("environment variable FLYTE_GCP_KMS_KEY_NAME")
            && message.contains("projects/PROJECT/locations/LOCATION"),
        "{message}"
    );
}
