//! `download`: a task's inputs.pb into a local directory, the way flytecopilot lays it out.
//!
//! `<dir>/<var>` per input: primitives as text (copilot's formats, `values.rs`), single
//! blobs as a file, multipart blobs, schemas and directory datasets as a directory with
//! their nesting, collections as `<var>/0`, `<var>/1` …, maps as `<var>/<key>`, unions
//! as their value. Then `<dir>/inputs.pb` with every downloaded URI rewritten to its
//! local path, and `inputs.json` or `inputs.yaml` per `--format`. Offloaded literals are
//! resolved first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use base64::Engine;
use flyte_proto::core::literal::Value as LiteralValue;
use flyte_proto::core::primitive::Value as PrimitiveValue;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::{Literal, LiteralMap, VariableMap};
use flyte_storage::Storage;
use serde_json::Value as Json;

use crate::blobs::{self, Materializer, OffloadErrorKind};
use crate::report::{Fault, codes};
use crate::values;

/// How the inputs are also described beside inputs.pb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// inputs.json.
    Json,
    /// inputs.yaml.
    Yaml,
    /// inputs.pb only.
    Proto,
}

impl Format {
    /// flyteidl's `DataLoadingConfig.LiteralMapFormat` name.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "JSON" => Ok(Format::Json),
            "YAML" => Ok(Format::Yaml),
            "PROTO" => Ok(Format::Proto),
            other => Err(anyhow!(
                "--format {other:?} is not a format: use JSON, YAML or PROTO"
            )),
        }
    }
}

/// Everything one download needs, decided from the flags.
#[derive(Debug)]
pub struct DownloadPlan {
    /// The inputs.pb URI.
    pub inputs: String,
    /// The local directory.
    pub local_dir: PathBuf,
    /// inputs.json / inputs.yaml / neither.
    pub format: Format,
    /// The bound on the whole download, if any.
    pub timeout: Option<Duration>,
    /// The input interface, when given (checked against the inputs' names).
    pub interface: Option<VariableMap>,
}

/// Runs the download.
pub async fn run(storage: &Storage, plan: &DownloadPlan) -> Result<(), Fault> {
    std::fs::create_dir_all(&plan.local_dir)
        .with_context(|| {
            format!(
                "creating the local input directory {} (--to-local-dir): check that its volume is mounted and writable",
                plan.local_dir.display()
            )
        })
        .map_err(|error| Fault::fatal(codes::INPUT_DOWNLOAD_FAILED, error))?;
    check_writable(&plan.local_dir)?;
    let work = download(storage, plan);
    match plan.timeout {
        Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(Fault::system(
                codes::INPUT_DOWNLOAD_FAILED,
                anyhow!(
                    "the inputs were not downloaded within --timeout {}: raise the timeout (propeller's co-pilot.timeout)",
                    values::format_std_duration(limit)
                ),
            ))
        }),
        None => work.await,
    }
}

/// The local directory must take files, checked before anything is downloaded: a
/// read-only volume is then reported as itself, naming the directory, rather than as
/// the first input that could not be written.
fn check_writable(dir: &Path) -> Result<(), Fault> {
    let probe = dir.join(format!(".flyte-copilot-write-check.{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(error) => Err(Fault::fatal(
            codes::INPUT_DOWNLOAD_FAILED,
            anyhow::Error::new(error).context(format!(
                "the local input directory {} (--to-local-dir) is not writable: check that its volume is mounted read-write",
                dir.display()
            )),
        )),
    }
}

async fn download(storage: &Storage, plan: &DownloadPlan) -> Result<(), Fault> {
    // Every storage failure is worth a retry: a missing inputs.pb may not be visible yet.
    let bytes = storage.get_bytes(&plan.inputs).await.map_err(|error| {
        Fault::system(
            codes::INPUT_DOWNLOAD_FAILED,
            anyhow::Error::new(error).context(format!(
                "reading the task's inputs {} (--from-remote)",
                plan.inputs
            )),
        )
    })?;
    let inputs: LiteralMap = flyte_proto::io::decode(&bytes)
        .with_context(|| {
            format!(
                "{} is not a flyteidl.core.LiteralMap: it is corrupt, or --from-remote names another file",
                plan.inputs
            )
        })
        .map_err(|error| Fault::fatal(codes::INPUT_DOWNLOAD_FAILED, error))?;
    if let Some(interface) = &plan.interface {
        if let Some(missing) = interface
            .variables
            .keys()
            .find(|name| !inputs.literals.contains_key(*name))
        {
            return Err(Fault::fatal(
                codes::INPUT_DOWNLOAD_FAILED,
                anyhow!(
                    "{} has no input {missing:?}, which --input-interface declares: the inputs and the interface are of different tasks",
                    plan.inputs
                ),
            ));
        }
    }
    tracing::info!(inputs = %plan.inputs, dir = %plan.local_dir.display(), count = inputs.literals.len(), "downloading inputs");

    let materializer = Materializer::new(storage.clone());
    let local = materializer
        .literal_map(&inputs, &plan.local_dir)
        .await
        .map_err(|error| {
            // Only the store's failures may pass; the inputs' literals, the local
            // directory and a URI no store serves (an http(s) URI, a scheme this build
            // has no backend for) are the same on every retry.
            let fault = if error.kind() == OffloadErrorKind::Storage {
                Fault::system
            } else {
                Fault::fatal
            };
            fault(
                codes::INPUT_DOWNLOAD_FAILED,
                anyhow::Error::new(error).context("downloading the inputs' files"),
            )
        })?;

    let local_error = |error: anyhow::Error| Fault::fatal(codes::INPUT_DOWNLOAD_FAILED, error);
    let mut described = serde_json::Map::new();
    for (name, literal) in &local.literals {
        let path = plan.local_dir.join(name);
        let value = write_values(literal, &path)
            .with_context(|| format!("writing input {name:?}"))
            .map_err(local_error)?;
        described.insert(name.clone(), value);
    }
    let inputs_pb = plan.local_dir.join("inputs.pb");
    flyte_proto::io::write_literal_map(&inputs_pb, &local)
        .context("writing inputs.pb")
        .map_err(local_error)?;
    let described = Json::Object(described);
    let description = match plan.format {
        Format::Json => Some(("inputs.json", described.to_string())),
        Format::Yaml => Some(("inputs.yaml", values::json_to_yaml(&described))),
        Format::Proto => None,
    };
    if let Some((file, text)) = description {
        write_atomically(&plan.local_dir.join(file), text.as_bytes()).map_err(local_error)?;
    }
    tracing::info!(dir = %plan.local_dir.display(), "inputs downloaded");
    Ok(())
}

/// Writes the primitives of `literal` at `path` (its blobs are already there) and
/// returns how inputs.json describes it.
fn write_values(literal: &Literal, path: &Path) -> anyhow::Result<Json> {
    match &literal.value {
        Some(LiteralValue::Scalar(scalar)) => match &scalar.value {
            Some(ScalarValue::Primitive(primitive)) => {
                let (text, json) = match &primitive.value {
                    Some(PrimitiveValue::Integer(value)) => (value.to_string(), Json::from(*value)),
                    Some(PrimitiveValue::FloatValue(value)) => (
                        values::format_float(*value),
                        serde_json::Number::from_f64(*value)
                            .map(Json::Number)
                            .unwrap_or_else(|| Json::String(values::format_float(*value))),
                    ),
                    Some(PrimitiveValue::StringValue(value)) => {
                        (value.clone(), Json::from(value.clone()))
                    }
                    Some(PrimitiveValue::Boolean(value)) => (value.to_string(), Json::from(*value)),
                    Some(PrimitiveValue::Datetime(value)) => {
                        let text = values::format_datetime(value);
                        (text.clone(), Json::String(text))
                    }
                    Some(PrimitiveValue::Duration(value)) => {
                        // JSON carries a Go time.Duration as its nanoseconds, as copilot's does.
                        let nanos =
                            i128::from(value.seconds) * 1_000_000_000 + i128::from(value.nanos);
                        (
                            values::format_duration(value),
                            Json::from(i64::try_from(nanos).unwrap_or(i64::MAX)),
                        )
                    }
                    None => ("null".to_owned(), Json::Null),
                };
                write_atomically(path, text.as_bytes())?;
                Ok(json)
            }
            Some(ScalarValue::Blob(blob)) => Ok(Json::String(blob.uri.clone())),
            Some(ScalarValue::Schema(schema)) => Ok(Json::String(schema.uri.clone())),
            Some(ScalarValue::StructuredDataset(dataset)) => Ok(Json::String(dataset.uri.clone())),
            Some(ScalarValue::Binary(binary)) => {
                write_atomically(path, &binary.value)?;
                Ok(Json::String(
                    base64::engine::general_purpose::STANDARD.encode(&binary.value),
                ))
            }
            Some(ScalarValue::Error(error)) => {
                write_atomically(path, error.message.as_bytes())?;
                Ok(Json::String(error.message.clone()))
            }
            Some(ScalarValue::Generic(fields)) => {
                let json = values::struct_to_json(fields);
                write_atomically(path, json.to_string().as_bytes())?;
                Ok(json)
            }
            Some(ScalarValue::NoneType(_)) | None => {
                write_atomically(path, b"null")?;
                Ok(Json::Null)
            }
            Some(ScalarValue::Union(union)) => match union.value.as_deref() {
                Some(value) => write_values(value, path),
                None => {
                    write_atomically(path, b"null")?;
                    Ok(Json::Null)
                }
            },
        },
        Some(LiteralValue::Collection(collection)) => {
            create_dir(path)?;
            collection
                .literals
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    write_values(item, &path.join(index.to_string()))
                        .with_context(|| format!("item {index}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map(Json::Array)
        }
        Some(LiteralValue::Map(map)) => {
            create_dir(path)?;
            let mut entries = serde_json::Map::new();
            for (key, item) in &map.literals {
                check_key(key)?;
                let value = write_values(item, &path.join(key))
                    .with_context(|| format!("entry {key:?}"))?;
                entries.insert(key.clone(), value);
            }
            Ok(Json::Object(entries))
        }
        Some(LiteralValue::OffloadedMetadata(offloaded)) => Err(anyhow!(
            "the offloaded literal {} was not resolved",
            offloaded.uri
        )),
        None => {
            write_atomically(path, b"null")?;
            Ok(Json::Null)
        }
    }
}

/// A map key becomes a file name: it must be one.
fn check_key(key: &str) -> anyhow::Result<()> {
    if !blobs::is_safe_file_name(key) {
        return Err(anyhow!(
            "map key {key:?} cannot be a file name, so it cannot be written under the input directory"
        ));
    }
    Ok(())
}

fn create_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so a reader
/// never sees half of it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temp, bytes).with_context(|| {
        format!(
            "writing {}: check that the directory is writable and has space",
            path.display()
        )
    })?;
    std::fs::rename(&temp, path).with_context(|| format!("moving {} into place", path.display()))
}
