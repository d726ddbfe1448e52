//! The upload settings: what objects written to S3, GCS and Azure are created with
//! (encryption, storage class, ACL). flytekit has none of them; they are named after
//! its `[aws]`, `[gcp]` and `[azure]` sections (so `FLYTE_AWS_ACL` is `[aws] acl`) and,
//! in the flytectl YAML file, live under `storage.upload`. Every value is checked here,
//! so a typo stops start-up naming its variable or key instead of failing the first
//! upload of a run.

use crate::error::{Choices, ConfigError};
use crate::resolve::{Key, Resolver};
use crate::settings::{AzureUploadSettings, GcsUploadSettings, S3UploadSettings};
use crate::source::Source;

/// `x-amz-server-side-encryption` values. (SSE-C needs a key per request and
/// DSSE-KMS is not offered: neither has been asked for.)
static S3_ENCRYPTION: Choices = Choices {
    what: "an S3 server-side encryption",
    values: &["AES256", "aws:kms"],
};

/// S3's storage classes (the `x-amz-storage-class` values PutObject takes).
static S3_STORAGE_CLASSES: Choices = Choices {
    what: "an S3 storage class",
    values: &[
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "GLACIER_IR",
        "SNOW",
        "EXPRESS_ONEZONE",
        "FSX_OPENZFS",
    ],
};

/// S3's canned ACLs for objects.
static S3_CANNED_ACLS: Choices = Choices {
    what: "an S3 canned ACL",
    values: &[
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "aws-exec-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
    ],
};

/// GCS storage classes, the legacy ones included.
static GCS_STORAGE_CLASSES: Choices = Choices {
    what: "a GCS storage class",
    values: &[
        "STANDARD",
        "NEARLINE",
        "COLDLINE",
        "ARCHIVE",
        "MULTI_REGIONAL",
        "REGIONAL",
        "DURABLE_REDUCED_AVAILABILITY",
    ],
};

/// Azure blob access tiers (block blobs).
static AZURE_ACCESS_TIERS: Choices = Choices {
    what: "an Azure access tier",
    values: &["Hot", "Cool", "Cold", "Archive"],
};

pub(crate) fn s3(r: &mut Resolver<'_>) -> Result<S3UploadSettings, ConfigError> {
    const SSE: &str = "storage.s3.upload.server_side_encryption";
    let server_side_encryption = r.choice(
        SSE,
        &[Key::both(
            "aws",
            "server_side_encryption",
            "storage.upload.s3.server-side-encryption",
        )],
        &S3_ENCRYPTION,
    )?;
    let sse_kms_key_id = r.non_empty(
        "storage.s3.upload.sse_kms_key_id",
        &[Key::both(
            "aws",
            "sse_kms_key_id",
            "storage.upload.s3.sse-kms-key-id",
        )],
        "an S3 SSE-KMS key id",
    )?;
    const BUCKET_KEY: &str = "storage.s3.upload.bucket_key_enabled";
    let bucket_key = r.boolean(
        BUCKET_KEY,
        &[Key::both(
            "aws",
            "bucket_key_enabled",
            "storage.upload.s3.bucket-key-enabled",
        )],
        false,
    )?;
    let bucket_key_enabled = (r.source_of(BUCKET_KEY) != Source::Default).then_some(bucket_key);
    if bucket_key_enabled.is_none() {
        r.unshow_last();
    }
    // A key id or a bucket key without SSE-KMS is a request S3 refuses (or, for the
    // bucket key, ignores): say so now, naming both settings.
    if server_side_encryption.as_deref() != Some("aws:kms") {
        let dependent = [
            ("storage.s3.upload.sse_kms_key_id", sse_kms_key_id.is_some()),
            (BUCKET_KEY, bucket_key_enabled.is_some()),
        ];
        if let Some((setting, _)) = dependent.into_iter().find(|(_, set)| *set) {
            return Err(ConfigError::NeedsSseKms {
                origin: r.source_of(setting),
                encryption: server_side_encryption.unwrap_or_else(|| "unset".to_owned()),
                encryption_origin: Box::new(r.source_of(SSE)),
            });
        }
    }
    Ok(S3UploadSettings {
        server_side_encryption,
        sse_kms_key_id,
        bucket_key_enabled,
        storage_class: r.choice(
            "storage.s3.upload.storage_class",
            &[Key::both(
                "aws",
                "storage_class",
                "storage.upload.s3.storage-class",
            )],
            &S3_STORAGE_CLASSES,
        )?,
        acl: r.choice(
            "storage.s3.upload.acl",
            &[Key::both("aws", "acl", "storage.upload.s3.acl")],
            &S3_CANNED_ACLS,
        )?,
    })
}

pub(crate) fn gcs(r: &mut Resolver<'_>) -> Result<GcsUploadSettings, ConfigError> {
    const KMS: &str = "storage.gcs.upload.kms_key_name";
    let kms_key_name = r.non_empty(
        KMS,
        &[Key::both(
            "gcp",
            "kms_key_name",
            "storage.upload.gcs.kms-key-name",
        )],
        "a Cloud KMS key name",
    )?;
    if let Some(key) = &kms_key_name
        && !is_kms_key_name(key)
    {
        return Err(ConfigError::Malformed {
            origin: r.source_of(KMS),
            value: key.clone(),
            what: "a Cloud KMS key name: write it as \
                   projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY",
        });
    }
    Ok(GcsUploadSettings {
        kms_key_name,
        storage_class: r.choice(
            "storage.gcs.upload.storage_class",
            &[Key::both(
                "gcp",
                "storage_class",
                "storage.upload.gcs.storage-class",
            )],
            &GCS_STORAGE_CLASSES,
        )?,
    })
}

pub(crate) fn azure(r: &mut Resolver<'_>) -> Result<AzureUploadSettings, ConfigError> {
    Ok(AzureUploadSettings {
        encryption_scope: r.non_empty(
            "storage.azure.upload.encryption_scope",
            &[Key::both(
                "azure",
                "encryption_scope",
                "storage.upload.azure.encryption-scope",
            )],
            "an Azure encryption scope",
        )?,
        access_tier: r.choice(
            "storage.azure.upload.access_tier",
            &[Key::both(
                "azure",
                "access_tier",
                "storage.upload.azure.access-tier",
            )],
            &AZURE_ACCESS_TIERS,
        )?,
    })
}

/// `projects/P/locations/L/keyRings/R/cryptoKeys/K`, each part non-empty.
fn is_kms_key_name(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    parts.len() == 8
        && parts
            .iter()
            .step_by(2)
            .copied()
            .eq(["projects", "locations", "keyRings", "cryptoKeys"])
        && parts.iter().all(|part| !part.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_key_names_have_the_four_named_parts() {
        assert!(is_kms_key_name(
            "projects/p/locations/global/keyRings/r/cryptoKeys/k"
        ));
        for bad in [
            "k",
            "projects/p/locations/global/keyRings/r",
            "projects/p/locations/global/keyRings/r/cryptoKeys/",
            "projects/p/locations/global/keyRings/r/cryptoKeyVersions/k",
        ] {
            assert!(!is_kms_key_name(bad), "{bad}");
        }
    }
}
