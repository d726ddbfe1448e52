"""Tasks for `cargo xtask bench`: large outputs that flytekit offloads to the raw output
prefix, to compare how the bytes move (s3fs in flytekit, the Rust bridge in ours)."""

import os
from pathlib import Path

from flytekit import current_context, task
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile


@task
def big_file(size_mib: int) -> FlyteFile:
    path = Path(current_context().working_directory) / "big.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size_mib):
            # A different megabyte each time, cheaply: nothing can deduplicate it.
            f.write(i.to_bytes(8, "little") + block[8:])
    return FlyteFile(str(path))


@task
def many_files(count: int) -> FlyteDirectory:
    root = Path(current_context().working_directory) / "many"
    for i in range(count):
        folder = root / f"{i // 1000:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file-{i:05d}.txt").write_text(f"file {i}\n" * 8)
    return FlyteDirectory(str(root))
