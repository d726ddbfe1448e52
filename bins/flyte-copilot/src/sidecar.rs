//! `sidecar`: once the task's container has ended, its local output directory into
//! outputs.pb (and the raw data under the raw output prefix).
//!
//! Two phases, so that a bad output uploads nothing: first every declared output is
//! found and checked locally (`<dir>/<var>`, or the one `<dir>/<var>.*`), primitives
//! parsed, each file's or directory's kind matched to its type, and every path it names
//! checked to stay inside the output directory and be named in UTF-8; then files,
//! directories and datasets are uploaded, and outputs.pb is written last, so it never
//! names data that did not arrive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::literal_type::Type;
use flyte_proto::core::scalar::Value as ScalarValue;
use flyte_proto::core::structured_dataset_type::DatasetColumn;
use flyte_proto::core::{
    Binary, Error as ErrorValue, Literal, LiteralMap, LiteralType, Schema, SimpleType,
    TypedInterface, Union,
};
use flyte_proto::literal;
use flyte_storage::{Storage, join};
use futures_util::future::{BoxFuture, try_join_all};
use tokio::sync::Semaphore;

use crate::blobs::{self, OffloadError, OffloadErrorKind, Offloader};
use crate::report::{Fault, codes};
use crate::values;

/// The task's own error message file, as flytecopilot names it.
pub const ERROR_FILE: &str = "_ERROR";
/// The most of `_ERROR` that goes into the error document (flytecopilot's bound).
pub const ERROR_FILE_LIMIT: u64 = 1024 * 1024;

/// How many files, directories and datasets upload at once (each directory's own files
/// are further spread by flyte-storage's transfer concurrency).
pub const UPLOAD_CONCURRENCY: usize = 8;

/// Everything one upload needs, decided from the flags.
#[derive(Debug)]
pub struct SidecarPlan {
    /// Where outputs.pb (or the error document) goes.
    pub output_prefix: String,
    /// Where files, directories and datasets go.
    pub raw_output_prefix: String,
    /// The task's local output directory.
    pub local_dir: PathBuf,
    /// outputs.pb's name.
    pub meta_output_name: String,
    /// The bound on the upload.
    pub timeout: Option<Duration>,
    /// The task's interface; its outputs are what is uploaded.
    pub interface: TypedInterface,
}

/// Uploads the outputs, once the task's container has ended.
pub async fn run(storage: &Storage, plan: &SidecarPlan) -> Result<(), Fault> {
    let bound = plan
        .timeout
        .map_or_else(|| "no bound".to_owned(), values::format_std_duration);
    tracing::info!(dir = %plan.local_dir.display(), "reading the task's outputs (upload timeout: {bound})");
    let work = upload(storage, plan);
    match plan.timeout {
        Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(Fault::system(
                codes::OUTPUT_UPLOAD_FAILED,
                anyhow!(
                    "the outputs were not uploaded within --timeout {}: raise the timeout (propeller's co-pilot.timeout)",
                    values::format_std_duration(limit)
                ),
            ))
        }),
        None => work.await,
    }
}

async fn upload(storage: &Storage, plan: &SidecarPlan) -> Result<(), Fault> {
    let planner = Planner {
        root: check_local_dir(&plan.local_dir)?,
    };
    check_error_file(&plan.local_dir)?;
    let outputs = plan
        .interface
        .outputs
        .as_ref()
        .map(|outputs| &outputs.variables);
    let mut planned = BTreeMap::new();
    for (name, variable) in outputs.into_iter().flatten() {
        let kind = variable.r#type.as_ref().ok_or_else(|| {
            Fault::fatal(
                codes::OUTPUT_UPLOAD_FAILED,
                anyhow!("output {name:?} has no type in --interface"),
            )
        })?;
        if !blobs::is_safe_file_name(name) {
            return Err(Fault::fatal(
                codes::OUTPUT_UPLOAD_FAILED,
                anyhow!(
                    "output {name:?} in --interface cannot name a file under {}, so it cannot be read",
                    plan.local_dir.display()
                ),
            ));
        }
        let path = plan.local_dir.join(name);
        let value = planner.plan_value(kind, &path).map_err(|error| {
            let code = match error {
                PlanError::Missing(_) => codes::MISSING_OUTPUT,
                PlanError::Invalid(_) => codes::INVALID_OUTPUT,
            };
            Fault::user(code, anyhow!("output {name:?}: {}", error.message()))
        })?;
        planned.insert(name.clone(), value);
    }
    tracing::info!(count = planned.len(), dir = %plan.local_dir.display(), "outputs found; uploading");

    let offloader = Offloader::new(storage.clone(), plan.raw_output_prefix.clone());
    let limit = Semaphore::new(UPLOAD_CONCURRENCY);
    let uploads = planned.into_iter().map(|(name, value)| {
        let (offloader, limit) = (&offloader, &limit);
        async move {
            let literal = materialise(offloader, limit, value)
                .await
                .map_err(|error| upload_fault(&name, error))?;
            Ok::<_, Fault>((name, literal))
        }
    });
    let literals: BTreeMap<String, Literal> = try_join_all(uploads).await?.into_iter().collect();
    let uri = join(&plan.output_prefix, &plan.meta_output_name);
    storage
        .put_bytes(&uri, flyte_proto::io::encode(&LiteralMap { literals }))
        .await
        .map_err(|error| {
            Fault::system(
                codes::OUTPUT_UPLOAD_FAILED,
                anyhow::Error::new(error).context(format!("writing {uri}")),
            )
        })?;
    tracing::info!(%uri, "outputs uploaded");
    Ok(())
}

/// The fault an upload's failure is. The planning phase checks every output before
/// anything is uploaded, so a fault of the task's own found here means the task's files
/// changed under the sidecar (or could not be read); it is the task's all the same.
fn upload_fault(name: &str, error: OffloadError) -> Fault {
    match error.kind() {
        OffloadErrorKind::Local => Fault::user(
            codes::INVALID_OUTPUT,
            anyhow::Error::new(error).context(format!("output {name:?}")),
        ),
        // The raw output prefix (--to-raw-output) names no store this storage has, or
        // is empty: propeller's configuration, which a retry does not change.
        OffloadErrorKind::Configuration => Fault::fatal(
            codes::OUTPUT_UPLOAD_FAILED,
            anyhow::Error::new(error)
                .context(format!("uploading output {name:?} (--to-raw-output)")),
        ),
        _ => Fault::system(
            codes::OUTPUT_UPLOAD_FAILED,
            anyhow::Error::new(error).context(format!("uploading output {name:?}")),
        ),
    }
}

/// The task's output directory must be there: propeller mounts the shared volume at
/// `--from-local-dir` in both containers, so a directory that is missing is the pod's
/// configuration, not something the task did (or a retry undoes). Returns it with its
/// links resolved.
fn check_local_dir(dir: &Path) -> Result<PathBuf, Fault> {
    let unusable = |why: String| {
        Fault::fatal(
            codes::OUTPUT_UPLOAD_FAILED,
            anyhow!(
                "the task's output directory {} (--from-local-dir) {why}: check that the pod mounts the output volume there (the task's DataLoadingConfig output_path)",
                dir.display()
            ),
        )
    };
    match std::fs::read_dir(dir).and_then(|_| std::fs::canonicalize(dir)) {
        Ok(canonical) => Ok(canonical),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(unusable("does not exist".to_owned()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            Err(unusable("is not a directory".to_owned()))
        }
        Err(error) => Err(unusable(format!("cannot be listed ({error})"))),
    }
}

/// `_ERROR`, when the task wrote one: the task failed, and this is its message.
fn check_error_file(dir: &Path) -> Result<(), Fault> {
    let path = dir.join(ERROR_FILE);
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(Fault::system(
                codes::OUTPUT_UPLOAD_FAILED,
                anyhow::Error::new(error).context(format!("checking for {}", path.display())),
            ));
        }
    };
    if metadata.is_dir() {
        return Err(Fault::user(
            codes::CONTAINER_ERROR,
            anyhow!(
                "the task failed: it made {} a directory, where its error message should have been a file",
                path.display()
            ),
        ));
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(&path)
        .with_context(|| format!("opening {}", path.display()))
        .map_err(|error| Fault::system(codes::OUTPUT_UPLOAD_FAILED, error))?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, ERROR_FILE_LIMIT), &mut bytes)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(|error| Fault::system(codes::OUTPUT_UPLOAD_FAILED, error))?;
    let mut message = String::from_utf8_lossy(&bytes).into_owned();
    if metadata.len() > ERROR_FILE_LIMIT {
        message.push_str(&format!(
            "\n[{} is {} bytes; only its first {} are kept]",
            path.display(),
            metadata.len(),
            ERROR_FILE_LIMIT
        ));
    }
    Err(Fault::user(
        codes::CONTAINER_ERROR,
        anyhow!("the task failed: {message}"),
    ))
}

/// An output found and checked, waiting for its upload.
#[derive(Debug)]
enum Planned {
    /// Nothing to upload.
    Ready(Literal),
    /// A file, uploaded as a single blob.
    File { path: PathBuf, format: String },
    /// A directory, uploaded as a multipart blob.
    Directory { path: PathBuf, format: String },
    /// A legacy schema: a directory.
    Schema {
        path: PathBuf,
        kind: flyte_proto::core::SchemaType,
    },
    /// A structured dataset: a file or a directory.
    Dataset {
        path: PathBuf,
        format: String,
        columns: Option<Vec<DatasetColumn>>,
    },
    /// Items `0`, `1` … of a directory.
    Collection(Vec<Planned>),
    /// The entries of a directory, by name.
    Map(BTreeMap<String, Planned>),
    /// One variant of a union.
    Union {
        value: Box<Planned>,
        variant: LiteralType,
    },
}

/// Why an output cannot be made.
#[derive(Debug)]
enum PlanError {
    /// Nothing is where it should be.
    Missing(String),
    /// Something is there, but it is not the type's.
    Invalid(String),
}

impl PlanError {
    fn message(&self) -> &str {
        match self {
            PlanError::Missing(message) | PlanError::Invalid(message) => message,
        }
    }
}

/// `path`, or the one `path.*` beside it (a file written with an extension).
fn find(path: &Path) -> Result<Option<PathBuf>, PlanError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(Some(path.to_path_buf()));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(None);
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut matches: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect();
    matches.sort();
    match matches.len() {
        0 => Ok(None),
        1 => Ok(matches.pop()),
        _ => Err(PlanError::Invalid(format!(
            "{} does not exist and several files could be it ({}): leave one",
            path.display(),
            matches
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Finds and checks the outputs under the task's output directory.
struct Planner {
    /// The output directory, links resolved: nothing an output names may lie outside it.
    root: PathBuf,
}

impl Planner {
    /// `path`, or the one `path.*`: it must be named in UTF-8 (object keys are) and,
    /// links followed, lie inside the output directory. A link out of it names a file of
    /// the sidecar's own container (its storage settings, say), never one of the task's,
    /// which shares only this directory with the sidecar.
    fn require(&self, path: &Path, what: &str) -> Result<(PathBuf, std::fs::Metadata), PlanError> {
        let found = find(path)?.ok_or_else(|| {
            PlanError::Missing(format!(
                "nothing at {} (nor {}.*): the task should have written {what} there",
                path.display(),
                path.display()
            ))
        })?;
        if found.file_name().and_then(|name| name.to_str()).is_none() {
            return Err(not_utf8(&found));
        }
        let resolved = std::fs::canonicalize(&found).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                PlanError::Invalid(format!(
                    "{} is a symbolic link to nothing: write {what} there, not a link",
                    found.display()
                ))
            } else {
                PlanError::Invalid(format!("cannot read {}: {error}", found.display()))
            }
        })?;
        if !resolved.starts_with(&self.root) {
            return Err(PlanError::Invalid(format!(
                "{} is a symbolic link to {}, outside the output directory {}: write {what} there, not a link",
                found.display(),
                resolved.display(),
                self.root.display()
            )));
        }
        let metadata = std::fs::metadata(&resolved).map_err(|error| {
            PlanError::Invalid(format!("cannot read {}: {error}", found.display()))
        })?;
        Ok((found, metadata))
    }

    /// A directory uploaded whole, checked whole first (see [`check_tree`]).
    fn require_tree(&self, path: &Path, what: &str) -> Result<PathBuf, PlanError> {
        let found = self.require_dir(path, what)?;
        check_tree(&found)?;
        Ok(found)
    }

    fn require_file(&self, path: &Path, what: &str) -> Result<PathBuf, PlanError> {
        let (found, metadata) = self.require(path, what)?;
        if metadata.is_dir() {
            return Err(PlanError::Invalid(format!(
                "{} is a directory, but the output is {what}, a file",
                found.display()
            )));
        }
        Ok(found)
    }

    fn require_dir(&self, path: &Path, what: &str) -> Result<PathBuf, PlanError> {
        let (found, metadata) = self.require(path, what)?;
        if !metadata.is_dir() {
            return Err(PlanError::Invalid(format!(
                "{} is a file, but the output is {what}, a directory",
                found.display()
            )));
        }
        Ok(found)
    }

    fn read_text(&self, path: &Path, what: &str) -> Result<(PathBuf, String), PlanError> {
        let found = self.require_file(path, what)?;
        let bytes = std::fs::read(&found).map_err(|error| {
            PlanError::Invalid(format!("cannot read {}: {error}", found.display()))
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            PlanError::Invalid(format!(
                "{} is not UTF-8 text, which {what} must be",
                found.display()
            ))
        })?;
        Ok((found, text))
    }

    fn plan_value(&self, kind: &LiteralType, path: &Path) -> Result<Planned, PlanError> {
        let invalid = |found: &Path, error: values::ParseError| {
            PlanError::Invalid(format!("{} holds {error}", found.display()))
        };
        match &kind.r#type {
            Some(Type::Simple(simple)) => {
                let simple_type = SimpleType::try_from(*simple).map_err(|_| {
                    PlanError::Invalid(format!("simple type {simple} is unknown to flyteidl 1.16"))
                })?;
                let what = format!("a {} value", simple_name(*simple));
                if simple_type == SimpleType::Binary {
                    // Bytes are taken as written: trimming would change them.
                    let found = self.require_file(path, &what)?;
                    let value = std::fs::read(&found).map_err(|error| {
                        PlanError::Invalid(format!("cannot read {}: {error}", found.display()))
                    })?;
                    return Ok(Planned::Ready(literal::scalar(ScalarValue::Binary(
                        Binary {
                            value,
                            tag: "msgpack".to_owned(),
                        },
                    ))));
                }
                if simple_type == SimpleType::None {
                    return Ok(Planned::Ready(literal::none()));
                }
                let (found, raw) = self.read_text(path, &what)?;
                let text = raw.trim_matches([' ', '\n', '\t']);
                let literal = match simple_type {
                    SimpleType::Integer => literal::integer(
                        values::parse_integer(text).map_err(|e| invalid(&found, e))?,
                    ),
                    SimpleType::Float => {
                        literal::float(values::parse_float(text).map_err(|e| invalid(&found, e))?)
                    }
                    SimpleType::Boolean => {
                        literal::boolean(values::parse_bool(text).map_err(|e| invalid(&found, e))?)
                    }
                    SimpleType::String => literal::string(text),
                    SimpleType::Datetime => literal::datetime(
                        values::parse_datetime(text).map_err(|e| invalid(&found, e))?,
                    ),
                    SimpleType::Duration => literal::duration(
                        values::parse_duration(text).map_err(|e| invalid(&found, e))?,
                    ),
                    SimpleType::Error => literal::scalar(ScalarValue::Error(ErrorValue {
                        message: text.to_owned(),
                        ..Default::default()
                    })),
                    SimpleType::Struct => {
                        let json: serde_json::Value =
                            serde_json::from_str(text).map_err(|error| {
                                PlanError::Invalid(format!(
                                    "{} is not JSON ({error}), which a STRUCT output must be",
                                    found.display()
                                ))
                            })?;
                        let serde_json::Value::Object(_) = &json else {
                            return Err(PlanError::Invalid(format!(
                                "{} holds JSON that is not an object, which a STRUCT output must be",
                                found.display()
                            )));
                        };
                        let flyte_proto::prost_types::Value {
                            kind: Some(flyte_proto::prost_types::value::Kind::StructValue(fields)),
                        } = values::json_to_proto(&json)
                        else {
                            unreachable!("an object converts to a struct");
                        };
                        literal::scalar(ScalarValue::Generic(fields))
                    }
                    SimpleType::None | SimpleType::Binary => unreachable!("handled above"),
                };
                Ok(Planned::Ready(literal))
            }
            Some(Type::EnumType(enumeration)) => {
                let (found, raw) = self.read_text(path, "an enum value")?;
                let text = raw.trim_matches([' ', '\n', '\t']);
                if !enumeration.values.iter().any(|value| value == text) {
                    return Err(PlanError::Invalid(format!(
                        "{} holds {text:?}, which is not one of the enum's values ({})",
                        found.display(),
                        enumeration.values.join(", ")
                    )));
                }
                Ok(Planned::Ready(literal::string(text)))
            }
            Some(Type::Blob(blob)) => {
                if blob.dimensionality == BlobDimensionality::Multipart as i32 {
                    Ok(Planned::Directory {
                        path: self.require_tree(path, "a directory (multipart blob)")?,
                        format: blob.format.clone(),
                    })
                } else {
                    Ok(Planned::File {
                        path: self.require_file(path, "a file (single blob)")?,
                        format: blob.format.clone(),
                    })
                }
            }
            Some(Type::Schema(schema)) => Ok(Planned::Schema {
                path: self.require_tree(path, "a schema (a directory)")?,
                kind: schema.clone(),
            }),
            Some(Type::StructuredDatasetType(dataset)) => {
                let what = "a structured dataset (a file or a directory)";
                let (found, metadata) = self.require(path, what)?;
                if metadata.is_dir() {
                    check_tree(&found)?;
                } else if flyte_offload::dataset_file_name(&dataset.format).is_none() {
                    return Err(PlanError::Invalid(format!(
                        "{} is one file, and a structured dataset of format {:?} has no one-file layout flytekit reads (parquet and csv do): write a directory of its files instead",
                        found.display(),
                        dataset.format
                    )));
                }
                Ok(Planned::Dataset {
                    path: found,
                    format: dataset.format.clone(),
                    columns: (!dataset.columns.is_empty()).then(|| dataset.columns.clone()),
                })
            }
            Some(Type::CollectionType(item)) => {
                let dir = self.require_dir(path, "a collection (a directory of 0, 1, …)")?;
                let count = collection_length(&dir)?;
                (0..count)
                    .map(|index| {
                        self.plan_value(item, &dir.join(index.to_string()))
                            .map_err(|error| match error {
                                PlanError::Missing(message) => {
                                    PlanError::Missing(format!("item {index}: {message}"))
                                }
                                PlanError::Invalid(message) => {
                                    PlanError::Invalid(format!("item {index}: {message}"))
                                }
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Planned::Collection)
            }
            Some(Type::MapValueType(value)) => {
                let dir = self.require_dir(path, "a map (a directory of one entry per key)")?;
                let mut entries = BTreeMap::new();
                for key in map_keys(&dir)? {
                    let planned = self.plan_value(value, &dir.join(&key)).map_err(|error| {
                        PlanError::Invalid(format!("entry {key:?}: {}", error.message()))
                    })?;
                    entries.insert(key, planned);
                }
                Ok(Planned::Map(entries))
            }
            Some(Type::UnionType(union)) => {
                let none_variant = union.variants.iter().find(|variant| {
                    matches!(variant.r#type, Some(Type::Simple(simple)) if simple == SimpleType::None as i32)
                });
                if let Some(variant) = none_variant {
                    // Absent, or `null` as download writes a None input: None.
                    if find(path)?.is_none_or(|found| holds_null(&found)) {
                        return Ok(Planned::Union {
                            value: Box::new(Planned::Ready(literal::none())),
                            variant: variant.clone(),
                        });
                    }
                }
                let mut reasons = Vec::new();
                for variant in union
                    .variants
                    .iter()
                    .filter(|variant| Some(*variant) != none_variant)
                {
                    match self.plan_value(variant, path) {
                        Ok(value) => {
                            return Ok(Planned::Union {
                                value: Box::new(value),
                                variant: variant.clone(),
                            });
                        }
                        Err(error) => reasons.push(error.message().to_owned()),
                    }
                }
                Err(PlanError::Invalid(format!(
                    "{} fits none of the union's variants: {}",
                    path.display(),
                    reasons.join("; ")
                )))
            }
            None => Err(PlanError::Invalid(
                "the interface gives this output no type".to_owned(),
            )),
        }
    }
}

fn simple_name(simple: i32) -> &'static str {
    SimpleType::try_from(simple)
        .map(|simple| simple.as_str_name())
        .unwrap_or("an unknown simple type")
}

/// Whether `path` is a file holding `null` (spaces, tabs and newlines around it aside).
fn holds_null(path: &Path) -> bool {
    // Anything longer is not `null`, and need not be read.
    const LONGEST: u64 = 64;
    std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file() && metadata.len() <= LONGEST)
        && std::fs::read(path).is_ok_and(|bytes| bytes.trim_ascii() == b"null")
}

/// The keys of the map in `dir`: each entry's name up to its first `.`, so that
/// `alice.csv` is the entry `alice`, as `report.csv` is the output `report` and `2.txt`
/// item 2 of a collection (names starting with `.` are skipped). Two entries with one
/// key are an error naming both.
fn map_keys(dir: &Path) -> Result<Vec<String>, PlanError> {
    let cannot_list = |error: std::io::Error| {
        PlanError::Invalid(format!("cannot list {}: {error}", dir.display()))
    };
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(cannot_list)? {
        let entry = entry.map_err(cannot_list)?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(not_utf8(&entry.path()));
        };
        let Some(key) = entry_stem(&name).map(str::to_owned) else {
            continue;
        };
        if let Some(other) = names.insert(key.clone(), name.clone()) {
            let (first, second) = if other < name {
                (other, name)
            } else {
                (name, other)
            };
            return Err(PlanError::Invalid(format!(
                "{first} and {second} in {} are both the map's entry {key:?} (a key is the name up to its first `.`): leave one",
                dir.display()
            )));
        }
    }
    Ok(names.into_keys().collect())
}

/// What an entry of a collection's or a map's directory stands for: its name up to the
/// first `.` (the index `3` of `3.csv`, the key `alice` of `alice.csv`), as an output is
/// `<var>` or `<var>.*`. `None` for a dot file (an editor's or a tool's), which is
/// neither an item nor a key.
fn entry_stem(name: &str) -> Option<&str> {
    if name.starts_with('.') {
        return None;
    }
    name.split('.').next()
}

fn not_utf8(path: &Path) -> PlanError {
    PlanError::Invalid(format!(
        "{} is not named in UTF-8, so no object can be named after it: rename it",
        path.display()
    ))
}

/// Checks every entry under the directory `root` before any of it is uploaded, as
/// flyte-offload checks it at the upload (UTF-8 names, links leading inside `root`):
/// found here, a bad entry uploads nothing of any output and is reported as the task's
/// error.
fn check_tree(root: &Path) -> Result<(), PlanError> {
    flyte_offload::check_directory(root)
        .map_err(|error| PlanError::Invalid(flyte_errors::Chain(&error).to_string()))
}

/// How many items `dir` holds: entries named `0`, `1` … (optionally with an extension),
/// without a gap.
fn collection_length(dir: &Path) -> Result<usize, PlanError> {
    let listing = std::fs::read_dir(dir)
        .map_err(|error| PlanError::Invalid(format!("cannot list {}: {error}", dir.display())))?;
    let mut indices = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|error| {
            PlanError::Invalid(format!("cannot list {}: {error}", dir.display()))
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = entry_stem(&name) else {
            continue;
        };
        let index: usize = stem.parse().map_err(|_| {
            PlanError::Invalid(format!(
                "{} is in a collection's directory but is not named by an index (0, 1, …)",
                entry.path().display()
            ))
        })?;
        indices.push(index);
    }
    indices.sort_unstable();
    indices.dedup();
    if let Some((position, _)) = indices
        .iter()
        .enumerate()
        .find(|(position, index)| position != *index)
    {
        return Err(PlanError::Missing(format!(
            "item {position} of the collection in {} is missing (the items must be 0, 1, … without a gap)",
            dir.display()
        )));
    }
    Ok(indices.len())
}

/// Uploads what `planned` names and returns its literal; at most `limit`'s permits of
/// uploads run at once, however the outputs nest.
fn materialise<'a>(
    offloader: &'a Offloader,
    limit: &'a Semaphore,
    planned: Planned,
) -> BoxFuture<'a, Result<Literal, OffloadError>> {
    Box::pin(async move {
        let permit = || async {
            limit
                .acquire()
                .await
                .expect("the upload limiter is never closed")
        };
        Ok(match planned {
            Planned::Ready(literal) => literal,
            Planned::File { path, format } => {
                let _permit = permit().await;
                offloader.file(&path, &format).await?
            }
            Planned::Directory { path, format } => {
                let _permit = permit().await;
                offloader.directory(&path, &format).await?
            }
            Planned::Schema { path, kind } => {
                let _permit = permit().await;
                let uploaded = offloader.directory(&path, "").await?;
                let uri = uploaded
                    .as_blob()
                    .map(|blob| blob.uri.clone())
                    .expect("Offloader::directory makes a blob literal");
                literal::scalar(ScalarValue::Schema(Schema {
                    uri,
                    r#type: Some(kind),
                }))
            }
            Planned::Dataset {
                path,
                format,
                columns,
            } => {
                let _permit = permit().await;
                offloader
                    .structured_dataset(&path, &format, columns)
                    .await?
            }
            Planned::Collection(items) => {
                let items = items
                    .into_iter()
                    .map(|item| materialise(offloader, limit, item));
                literal::collection(try_join_all(items).await?)
            }
            Planned::Map(entries) => {
                let entries = entries.into_iter().map(|(key, item)| async move {
                    Ok::<_, OffloadError>((key, materialise(offloader, limit, item).await?))
                });
                literal::map(try_join_all(entries).await?)
            }
            Planned::Union { value, variant } => {
                let value = materialise(offloader, limit, *value).await?;
                literal::scalar(ScalarValue::Union(Box::new(Union {
                    value: Some(Box::new(value)),
                    r#type: Some(variant),
                })))
            }
        })
    })
}
