//! Running the built `flyte-copilot` binary and reading what it wrote.

#![allow(dead_code, reason = "each test file uses part of the support module")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use flyte_proto::Message;
use flyte_proto::core::blob_type::BlobDimensionality;
use flyte_proto::core::literal_type::Type;
use flyte_proto::core::{
    BlobType, ErrorDocument, LiteralMap, LiteralType, SimpleType, TypedInterface, UnionType,
    Variable, VariableMap,
};

/// The binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flyte-copilot"))
}

/// `flyte-copilot <args>` with `env` added, run to its end.
pub fn run(args: &[&str], env: &BTreeMap<String, String>) -> Output {
    Command::new(binary())
        .args(args)
        .envs(env)
        .output()
        .expect("flyte-copilot runs")
}

/// The process's stderr, for assertion messages.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `message` serialized and base64-encoded, as propeller passes interfaces.
pub fn base64_of(message: &impl Message) -> String {
    base64::engine::general_purpose::STANDARD.encode(message.encode_to_vec())
}

/// A TypedInterface whose outputs are `outputs`.
pub fn outputs_interface(outputs: &[(&str, LiteralType)]) -> TypedInterface {
    TypedInterface {
        inputs: None,
        outputs: Some(VariableMap {
            variables: outputs
                .iter()
                .map(|(name, kind)| {
                    (
                        (*name).to_owned(),
                        Variable {
                            r#type: Some(kind.clone()),
                            ..Default::default()
                        },
                    )
                })
                .collect(),
        }),
    }
}

/// The error document at `path`.
pub fn error_document(path: &Path) -> ErrorDocument {
    flyte_proto::io::read_error_document(path).expect("an error document")
}

/// The literal map at `path`.
pub fn literal_map(path: &Path) -> LiteralMap {
    flyte_proto::io::read_literal_map(path).expect("a literal map")
}

/// A simple type (integer, string, ...).
pub fn simple(kind: SimpleType) -> LiteralType {
    LiteralType {
        r#type: Some(Type::Simple(kind as i32)),
        ..Default::default()
    }
}

/// A blob type: a file (`Single`) or a directory (`Multipart`) of `format`.
pub fn blob(format: &str, dimensionality: BlobDimensionality) -> LiteralType {
    LiteralType {
        r#type: Some(Type::Blob(BlobType {
            format: format.to_owned(),
            dimensionality: dimensionality as i32,
        })),
        ..Default::default()
    }
}

/// A list of `item`.
pub fn list_of(item: LiteralType) -> LiteralType {
    LiteralType {
        r#type: Some(Type::CollectionType(Box::new(item))),
        ..Default::default()
    }
}

/// A map from strings to `value`.
pub fn map_of(value: LiteralType) -> LiteralType {
    LiteralType {
        r#type: Some(Type::MapValueType(Box::new(value))),
        ..Default::default()
    }
}

/// A union of `variants` (with `SimpleType::None` among them: an Optional).
pub fn union_of(variants: Vec<LiteralType>) -> LiteralType {
    LiteralType {
        r#type: Some(Type::UnionType(UnionType { variants })),
        ..Default::default()
    }
}
