"""The transfer tasks of `cargo xtask bench`, run through flytekit's pyflyte-execute and through ours.

The write tasks hand flytekit data the bench made beforehand (a file, a directory) or a
dataframe built the same way each time, so that what differs between the two entrypoints
is how the bytes move (s3fs/gcsfs/adlfs in flytekit, the Rust bridge in ours), not how
they were made. The read tasks touch every byte of their input, so that a lazy download
cannot pass for a fast one.
"""

import os

import numpy as np
import pandas as pd
from flytekit import task
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile


@task
def write_file(path: str) -> FlyteFile:
    return FlyteFile(path)


@task
def write_directory(path: str) -> FlyteDirectory:
    return FlyteDirectory(path)


def make_frame(rows: int) -> pd.DataFrame:
    """The same frame every time: an id, a random float and a small category."""
    rng = np.random.default_rng(11)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "value": rng.random(rows),
            "category": rng.integers(0, 100, rows, dtype=np.int32),
        }
    )


@task
def write_dataframe(rows: int) -> pd.DataFrame:
    return make_frame(rows)


def _size_on_disk(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    # os.walk holds one directory at a time; Path.rglob (Python 3.11) keeps every path it
    # yielded, which would put the task's own memory into the worker's peak.
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


@task
def read_file(f: FlyteFile) -> int:
    return _size_on_disk(f.download())


@task
def read_directory(d: FlyteDirectory) -> int:
    return _size_on_disk(d.download())


@task
def read_dataframe(df: pd.DataFrame) -> int:
    return len(df)


@task
def trivial(x: int) -> int:
    """The CPU floor of the transfer runs: this module's imports and a task run, no data."""
    return x + 1


if __name__ == "__main__":
    # `python bench_tasks.py frame ROWS OUT`: the bench's copy of the frame, as parquet, for
    # rclone and for the read task's input.
    import sys

    if len(sys.argv) != 4 or sys.argv[1] != "frame":
        sys.exit(f"usage: {sys.argv[0]} frame ROWS OUT.parquet")
    make_frame(int(sys.argv[2])).to_parquet(sys.argv[3])
