//! Running the built `flyte-copilot` binary and reading what it wrote.

#![allow(dead_code, reason = "each test file uses part of the support module")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use flyte_proto::Message;
use flyte_proto::core::{
    ErrorDocument, LiteralMap, LiteralType, TypedInterface, Variable, VariableMap,
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
