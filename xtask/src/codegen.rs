//! `cargo xtask codegen`: turns `proto/` into the Rust code and descriptor set that
//! flyte-proto checks in. Pure Rust (protox), so no machine needs `protoc`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use prost::Message;

/// Where the checked-in generated files live, relative to the workspace root.
pub const GENERATED_DIR: &str = "crates/flyte-proto/src/generated";

/// The descriptor set of our .proto files, checked in beside the Rust code so the
/// wire-compatibility test can compare it with flyteidl's.
pub const DESCRIPTOR_SET_FILE: &str = "flyteidl_core.descriptor.bin";

/// The descriptors of the well-known `google.protobuf` types our files import
/// (Timestamp, Duration, Struct, wrappers), which flyte-proto's streaming wire checks
/// need beside ours.
pub const WELL_KNOWN_SET_FILE: &str = "google_protobuf.descriptor.bin";

/// Regenerates the checked-in files in place.
pub fn run(root: &Path) -> Result<()> {
    let out = root.join(GENERATED_DIR);
    generate(root, &out)?;
    println!("generated {}", out.display());
    Ok(())
}

/// Generates every file into `out_dir`: the prost module per package and the descriptor set.
pub fn generate(root: &Path, out_dir: &Path) -> Result<()> {
    let proto_root = root.join("proto");
    let files = proto_files(&proto_root)?;
    let fds = protox::compile(&files, [&proto_root])
        .with_context(|| format!("compiling the .proto files under {}", proto_root.display()))?;

    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // Only our own files go into the checked-in descriptor set; the well-known types
    // are prost-types' business. Source info is dropped: comments are not wire facts.
    let mut ours = fds.clone();
    ours.file.retain(|f| f.package() == "flyteidl.core");
    for file in &mut ours.file {
        file.source_code_info = None;
    }
    std::fs::write(out_dir.join(DESCRIPTOR_SET_FILE), ours.encode_to_vec())
        .context("writing the descriptor set")?;
    let mut well_known = fds.clone();
    well_known.file.retain(|f| f.package() == "google.protobuf");
    for file in &mut well_known.file {
        file.source_code_info = None;
    }
    std::fs::write(
        out_dir.join(WELL_KNOWN_SET_FILE),
        well_known.encode_to_vec(),
    )
    .context("writing the well-known types' descriptor set")?;

    prost_build::Config::new()
        // Maps become BTreeMaps: encoding is then deterministic (keys in byte order),
        // matching flytekit's output and making re-encoding reproducible.
        .btree_map(["."])
        // `prost::Name` on every message: `io::decode::<LiteralMap>` and its errors name
        // the protobuf message from the type alone.
        .enable_type_names()
        .out_dir(out_dir)
        .compile_fds(fds)
        .context("generating Rust code with prost-build")?;
    Ok(())
}

/// Every .proto under `proto_root`, relative to it, in a stable order.
fn proto_files(proto_root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![proto_root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "proto") {
                found.push(path.strip_prefix(proto_root)?.to_path_buf());
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_generated_code_matches_a_fresh_codegen() {
        let root = crate::workspace_root();
        let fresh = tempfile::tempdir().expect("temp dir");
        generate(&root, fresh.path()).expect("codegen");
        let checked_in = root.join(GENERATED_DIR);
        let mut names: Vec<_> = std::fs::read_dir(fresh.path())
            .expect("read fresh dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        for name in names {
            let want = std::fs::read(fresh.path().join(&name)).expect("read fresh file");
            let have = std::fs::read(checked_in.join(&name)).unwrap_or_default();
            assert!(
                want == have,
                "{} is stale: run `cargo xtask codegen` and commit the result",
                checked_in.join(&name).display()
            );
        }
    }
}
