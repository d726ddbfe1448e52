"""Packs a built pyflyte-execute binary into the wheel `pyflyte-execute-rs` (stdlib only).

    python build_wheel.py --binary PATH --version X.Y.Z --out DIR [--platform-tag TAG]

prints the wheel's path. `cargo xtask dist` calls it with the portable release binary
and its manylinux tag; the wheel test calls it with the binary the tests already built
and this machine's plain tag (`linux_x86_64`), so both wheels have the same layout:

    pyflyte_execute_rs.pth                   site runs it at every interpreter start:
                                             hands flytekit's three console scripts over
    pyflyte_execute_rs/__init__.py           to the binary (see there)
    pyflyte_execute_rs/__main__.py           `python -m pyflyte_execute_rs ARGS`
    pyflyte_execute_rs/pyflyte-execute       the binary
    pyflyte_execute_rs-X.Y.Z.dist-info/      METADATA, WHEEL, RECORD

The wheel has no console scripts of its own: the three names belong to flytekit's wheel,
and a file two distributions install is deleted by whichever is uninstalled first
(docs/deploy.md). It declares no dependency on flytekit either: the image's flytekit,
whatever its version, is the one the task runs with.
"""

import argparse
import base64
import hashlib
import sysconfig
import zipfile
from pathlib import Path

DISTRIBUTION = "pyflyte-execute-rs"
PACKAGE = "pyflyte_execute_rs"
HERE = Path(__file__).resolve().parent
# Every file gets this date, so the same inputs give the same wheel.
EPOCH = (1980, 1, 1, 0, 0, 0)

SUMMARY = "pyflyte-execute in Rust: takes over flytekit's container entrypoints in this environment"
DESCRIPTION = """\
# pyflyte-execute-rs

Installed beside flytekit, this package makes `pyflyte-execute`, `pyflyte-fast-execute`
and `pyflyte-map-execute` run a Rust supervisor that runs the task through the
environment's flytekit in a supervised worker: same flags, same inputs.pb, same
outputs.pb / futures.pb / error.pb, and an error document even when the task's process
dies. flytekit's console scripts are left in place: uninstalling this package gives them
back. `pyflyte-execute --version` says which is active.

See docs/deploy.md in the project's repository.
"""


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def wheel_files(binary: Path, version: str, tag: str):
    """(path in the wheel, bytes, executable?) for every file, RECORD last."""
    dist_info = f"{PACKAGE}-{version}.dist-info"
    files = [
        (f"{PACKAGE}.pth", (HERE / f"{PACKAGE}.pth").read_bytes(), False),
        (f"{PACKAGE}/__init__.py", (HERE / PACKAGE / "__init__.py").read_bytes(), False),
        (f"{PACKAGE}/__main__.py", (HERE / PACKAGE / "__main__.py").read_bytes(), False),
        (f"{PACKAGE}/pyflyte-execute", binary.read_bytes(), True),
        (
            f"{dist_info}/METADATA",
            (
                "Metadata-Version: 2.1\n"
                f"Name: {DISTRIBUTION}\n"
                f"Version: {version}\n"
                f"Summary: {SUMMARY}\n"
                "License: Apache-2.0\n"
                "Requires-Python: >=3.9\n"
                "Description-Content-Type: text/markdown\n"
                "\n" + DESCRIPTION
            ).encode(),
            False,
        ),
        (
            f"{dist_info}/WHEEL",
            (
                "Wheel-Version: 1.0\n"
                "Generator: pyflyte-execute build_wheel.py\n"
                "Root-Is-Purelib: false\n"
                + "".join(f"Tag: py3-none-{platform}\n" for platform in tag.split("."))
            ).encode(),
            False,
        ),
    ]
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data, _ in files)
    record += f"{dist_info}/RECORD,,\n"
    return files + [(f"{dist_info}/RECORD", record.encode(), False)]


def build(binary: Path, version: str, tag: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{PACKAGE}-{version}-py3-none-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data, executable in wheel_files(binary, version, tag):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            # Unix mode in the high bits: installers keep the executable bit from it.
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            archive.writestr(info, data)
    return wheel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, required=True, help="the built pyflyte-execute")
    parser.add_argument("--version", required=True, help="the wheel's version (the crate's)")
    parser.add_argument("--out", type=Path, required=True, help="the directory to write the wheel to")
    parser.add_argument(
        "--platform-tag",
        default=sysconfig.get_platform().replace("-", "_").replace(".", "_"),
        help="e.g. manylinux_2_17_x86_64.manylinux2014_x86_64 (default: this machine's, not portable)",
    )
    args = parser.parse_args()
    print(build(args.binary, args.version, args.platform_tag, args.out))


if __name__ == "__main__":
    main()
