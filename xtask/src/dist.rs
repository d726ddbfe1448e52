//! `cargo xtask dist [wheel|copilot] [--arch x86_64|aarch64]`: what a release publishes.
//!
//! - **wheel**: `pyflyte-execute-rs`. The binary is built with the `dist` profile
//!   (release, stripped) and linked by zig (cargo-zigbuild, from PyPI like zig itself)
//!   against glibc 2.17, so it runs on every manylinux2014 system, whatever glibc this
//!   machine has; it is then packed by `bins/pyflyte-execute/wheel/build_wheel.py` (the
//!   same packer the wheel test uses) and the wheel is checked with `auditwheel show`.
//! - **copilot**: `flyte-copilot` as one static musl executable, for propeller's
//!   co-pilot image (docs/copilot.md): raw containers carry no Python and maybe no libc,
//!   so the image holds this file alone. zig is its C compiler (ring) and linker too.
//!   It is checked to name no ELF interpreter, and, on this machine's architecture, run
//!   in an empty chroot (no libc, no /etc, no /tmp) on a real `download`.
//!
//! Without a name both are built. The tools live in `target/dist-tools`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{python_env, test::cargo};

/// The oldest glibc the wheel's binary is linked against: manylinux2014's.
const GLIBC: &str = "2.17";
/// The packaging tools, pinned.
const TOOLS_REQUIREMENTS: &str = "xtask/dist-requirements.txt";
const USAGE: &str = "usage: cargo xtask dist [wheel|copilot] [--arch x86_64|aarch64]";

/// What `cargo xtask dist` was asked for.
struct Request {
    wheel: bool,
    copilot: bool,
    arch: String,
}

fn parse(args: &[String]) -> Result<Request> {
    let mut request = Request {
        wheel: false,
        copilot: false,
        arch: std::env::consts::ARCH.to_owned(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "wheel" => request.wheel = true,
            "copilot" => request.copilot = true,
            "--arch" => {
                request.arch = args
                    .next()
                    .with_context(|| format!("--arch needs a value\n{USAGE}"))?
                    .clone();
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if !request.wheel && !request.copilot {
        request.wheel = true;
        request.copilot = true;
    }
    if !["x86_64", "aarch64"].contains(&request.arch.as_str()) {
        bail!(
            "cargo xtask dist builds for x86_64 or aarch64, not {}",
            request.arch
        );
    }
    Ok(request)
}

/// Builds and checks what `args` names (default: the wheel and the copilot binary) for
/// `--arch` (default: this machine's); prints each artifact's path and size and how long
/// it all took.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let request = parse(args)?;
    let started = Instant::now();
    let tools = Tools::ensure(root)?;
    if request.wheel {
        wheel(root, &tools, &request.arch)?;
    }
    if request.copilot {
        copilot(root, &tools, &request.arch)?;
    }
    println!("dist done in {:.0?}", started.elapsed());
    Ok(())
}

/// The packaging tools' environment (`target/dist-tools`).
struct Tools {
    python: PathBuf,
    bin: PathBuf,
    /// PATH with the tools first: cargo finds `cargo-zigbuild` there, and cargo-zigbuild
    /// finds zig as `python3 -m ziglang` of the same environment.
    path: std::ffi::OsString,
}

impl Tools {
    fn ensure(root: &Path) -> Result<Tools> {
        let python = python_env::ensure_at(
            &root.join("target/dist-tools"),
            &root.join(TOOLS_REQUIREMENTS),
        )?;
        let bin = python
            .parent()
            .context("the tools environment has a bin directory")?
            .to_path_buf();
        let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .context("building PATH")?;
        Ok(Tools { python, bin, path })
    }

    /// `cargo zigbuild --profile dist -p PACKAGE --bin PACKAGE --target TARGET`.
    fn zigbuild(&self, root: &Path, package: &str, target: &str) -> Result<()> {
        python_env::run(
            cargo()
                .current_dir(root)
                .env("PATH", &self.path)
                .args(["zigbuild", "--profile", "dist", "-p", package])
                .args(["--bin", package, "--target", target]),
        )
    }
}

/// Builds, packs and checks the wheel.
fn wheel(root: &Path, tools: &Tools, arch: &str) -> Result<()> {
    let triple = format!("{arch}-unknown-linux-gnu");
    tools
        .zigbuild(root, "pyflyte-execute", &format!("{triple}.{GLIBC}"))
        .with_context(|| {
            format!("building for {triple} (a machine of another architecture needs `rustup target add {triple}`)")
        })?;
    let binary = root
        .join("target")
        .join(&triple)
        .join("dist/pyflyte-execute");

    let tag = format!("manylinux_2_17_{arch}.manylinux2014_{arch}");
    let packed = Command::new(&tools.python)
        .arg(root.join("bins/pyflyte-execute/wheel/build_wheel.py"))
        .arg("--binary")
        .arg(&binary)
        .args([
            "--version",
            &crate_version(root, "pyflyte-execute")?,
            "--platform-tag",
            &tag,
        ])
        .arg("--out")
        .arg(root.join("target/wheels"))
        .output()
        .context("starting build_wheel.py")?;
    if !packed.status.success() {
        bail!(
            "build_wheel.py failed ({}):\n{}",
            packed.status,
            String::from_utf8_lossy(&packed.stderr)
        );
    }
    let wheel = PathBuf::from(String::from_utf8_lossy(&packed.stdout).trim());

    let audit = Command::new(tools.bin.join("auditwheel"))
        .arg("show")
        .arg(&wheel)
        .output()
        .context("starting auditwheel")?;
    let report = String::from_utf8_lossy(&audit.stdout);
    print!("{report}");
    // auditwheel wraps its lines, but never inside the quoted tag.
    let expected = format!("\"manylinux_2_17_{arch}\"");
    if !audit.status.success() || !report.contains(&expected) {
        bail!(
            "auditwheel does not find {} consistent with {expected} ({}):\n{}",
            wheel.display(),
            audit.status,
            String::from_utf8_lossy(&audit.stderr)
        );
    }
    print_artifact(&wheel)
}

/// Builds the static flyte-copilot, checks it and copies it to
/// `target/copilot/flyte-copilot-<version>-<target>` with a `.sha256` beside it.
fn copilot(root: &Path, tools: &Tools, arch: &str) -> Result<()> {
    let target = format!("{arch}-unknown-linux-musl");
    ensure_rust_target(&target)?;
    tools.zigbuild(root, "flyte-copilot", &target)?;
    let built = root.join("target").join(&target).join("dist/flyte-copilot");
    let bytes = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    check_static_elf(&bytes, arch)
        .with_context(|| format!("{} is not what the co-pilot image needs", built.display()))?;
    if arch == std::env::consts::ARCH {
        smoke_in_empty_root(&built)?;
    } else {
        println!("{target} is not this machine's architecture: the chroot run is skipped");
    }
    let out_dir = root.join("target/copilot");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let name = format!(
        "flyte-copilot-{}-{target}",
        crate_version(root, "flyte-copilot")?
    );
    let artifact = out_dir.join(&name);
    std::fs::copy(&built, &artifact)
        .with_context(|| format!("copying to {}", artifact.display()))?;
    let sum = Command::new("sha256sum")
        .arg(&name)
        .current_dir(&out_dir)
        .output()
        .context("starting sha256sum")?;
    if !sum.status.success() {
        bail!(
            "sha256sum {name} failed: {}",
            String::from_utf8_lossy(&sum.stderr)
        );
    }
    let sum_file = out_dir.join(format!("{name}.sha256"));
    std::fs::write(&sum_file, &sum.stdout)
        .with_context(|| format!("writing {}", sum_file.display()))?;
    print_artifact(&artifact)
}

/// Adds the Rust standard library for `target` when rustup has not got it yet.
fn ensure_rust_target(target: &str) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("starting rustup (the musl build needs rustup to add its target)")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == target)
    {
        return Ok(());
    }
    python_env::run(Command::new("rustup").args(["target", "add", target]))
}

/// The ELF facts a binary for an empty image must have: an executable of `arch`, with no
/// program interpreter (`PT_INTERP`), so the kernel starts it without any file of a libc.
/// A static-pie keeps a dynamic section for its own relocations; that needs no loader.
fn check_static_elf(bytes: &[u8], arch: &str) -> Result<()> {
    const PT_INTERP: u32 = 3;
    let field = |at: usize, len: usize| -> Result<u64> {
        let slice = bytes.get(at..at + len).with_context(|| {
            format!(
                "the file ends at {} bytes, inside its ELF header",
                bytes.len()
            )
        })?;
        Ok(slice
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        bail!("not an ELF file");
    }
    if bytes.get(4..6) != Some([2u8, 1].as_slice()) {
        bail!("not a 64-bit little-endian ELF file");
    }
    let machine = field(18, 2)?;
    let expected = match arch {
        "x86_64" => 62,
        "aarch64" => 183,
        other => bail!("no ELF machine number known for {other}"),
    };
    if machine != expected {
        bail!("built for ELF machine {machine}, not {arch} ({expected})");
    }
    let (phoff, phentsize, phnum) = (field(32, 8)?, field(54, 2)?, field(56, 2)?);
    for index in 0..phnum {
        let at = usize::try_from(phoff + index * phentsize).context("program header offset")?;
        if field(at, 4)? == u64::from(PT_INTERP) {
            bail!("it names a program interpreter (PT_INTERP): it is dynamically linked");
        }
    }
    Ok(())
}

/// Runs `binary download` in a directory holding nothing else, as its root: no libc, no
/// /etc, no /tmp, as in an image `FROM scratch`. The inputs are one integer, which must
/// arrive as the text copilot writes. Needs the right to chroot (root, or a user
/// namespace); without it the run is reported as skipped, the ELF check having passed.
fn smoke_in_empty_root(binary: &Path) -> Result<()> {
    let root = tempfile_dir()?;
    let result = (|| {
        std::fs::copy(binary, root.join("flyte-copilot"))
            .context("copying the binary into the empty root")?;
        std::fs::create_dir_all(root.join("remote")).context("creating remote/")?;
        let inputs = flyte_proto::literal::literal_map([("x", flyte_proto::literal::integer(7))]);
        std::fs::write(
            root.join("remote/inputs.pb"),
            flyte_proto::io::encode(&inputs),
        )
        .context("writing remote/inputs.pb")?;
        let download = [
            "/flyte-copilot",
            "download",
            "--from-remote",
            "/remote/inputs.pb",
            "--to-output-prefix",
            "/remote/out",
            "--to-local-dir",
            "/inputs",
        ];
        let attempts: [&[&str]; 2] = [
            &["chroot"],
            &["unshare", "--user", "--map-root-user", "chroot"],
        ];
        for prefix in attempts {
            let output = Command::new(prefix[0])
                .args(&prefix[1..])
                .arg(&root)
                .args(download)
                // Nothing of this environment reaches the binary but PATH, which chroot
                // and unshare are found by.
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .output();
            let Ok(output) = output else { continue };
            // chroot exits 125 when it cannot change the root itself (no right to).
            if output.status.code() == Some(125) {
                continue;
            }
            if !output.status.success() {
                bail!(
                    "the static flyte-copilot failed in an empty root ({}):\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let x = std::fs::read_to_string(root.join("inputs/x"))
                .context("reading the downloaded input x")?;
            if x.trim() != "7" {
                bail!("the static flyte-copilot wrote x = {x:?}, not 7");
            }
            println!(
                "the static flyte-copilot ran a download in an empty root ({})",
                prefix.join(" ")
            );
            return Ok(());
        }
        println!(
            "no right to chroot here (neither root nor user namespaces): the empty-root run is skipped"
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&root);
    result
}

/// A fresh directory under the system's temp directory.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn print_artifact(path: &Path) -> Result<()> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    println!(
        "{} ({:.1} MiB)",
        path.display(),
        size as f64 / f64::from(1 << 20)
    );
    Ok(())
}

/// A binary crate's version, which its artifact carries.
fn crate_version(root: &Path, package: &str) -> Result<String> {
    let manifest = root.join("bins").join(package).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("version = \"")
                .and_then(|rest| rest.strip_suffix('"'))
        })
        .map(str::to_owned)
        .with_context(|| format!("no `version = \"…\"` line in {}", manifest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-bit little-endian ELF header for x86_64 with program headers of `types`.
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2; // 64-bit
        bytes[5] = 1; // little-endian
        bytes[18..20].copy_from_slice(&62u16.to_le_bytes());
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        let count = u16::try_from(types.len()).expect("a few headers");
        bytes[56..58].copy_from_slice(&count.to_le_bytes());
        for kind in types {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            bytes.extend(header);
        }
        bytes
    }

    #[test]
    fn an_executable_without_an_interpreter_passes() {
        // PT_LOAD, PT_DYNAMIC (a static-pie has one), PT_GNU_STACK.
        check_static_elf(&elf(&[1, 2, 0x6474_e551]), "x86_64").expect("static");
    }

    #[test]
    fn an_executable_naming_an_interpreter_is_refused() {
        let error = check_static_elf(&elf(&[6, 3, 1]), "x86_64").expect_err("dynamic");
        assert!(error.to_string().contains("PT_INTERP"), "{error}");
    }

    #[test]
    fn this_dynamically_linked_test_binary_is_refused() {
        let me = std::fs::read(std::env::current_exe().expect("current exe")).expect("read");
        let error = check_static_elf(&me, std::env::consts::ARCH).expect_err("dynamic");
        assert!(error.to_string().contains("PT_INTERP"), "{error}");
    }

    #[test]
    fn another_architecture_or_a_truncated_file_is_refused() {
        let error = check_static_elf(&elf(&[1]), "aarch64").expect_err("x86_64 bytes");
        assert!(error.to_string().contains("aarch64"), "{error}");
        let mut cut = elf(&[1, 1]);
        cut.truncate(100);
        let error = check_static_elf(&cut, "x86_64").expect_err("truncated");
        assert!(error.to_string().contains("ends at 100 bytes"), "{error}");
        let error = check_static_elf(b"#!/bin/sh\n", "x86_64").expect_err("a script");
        assert!(error.to_string().contains("not an ELF"), "{error}");
    }

    #[test]
    fn dist_arguments_name_artifacts_and_an_architecture() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let both = parse(&[]).expect("defaults");
        assert!(both.wheel && both.copilot);
        let copilot = parse(&args(&["copilot", "--arch", "aarch64"])).expect("copilot");
        assert!(!copilot.wheel && copilot.copilot);
        assert_eq!(copilot.arch, "aarch64");
        assert!(parse(&args(&["--arch", "riscv64"])).is_err());
        assert!(parse(&args(&["musl"])).is_err());
    }
}
