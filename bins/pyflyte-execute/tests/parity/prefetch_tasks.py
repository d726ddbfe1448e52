"""Tasks for tests/prefetch.rs: they read (or skip, or lose) their file, directory and
dataframe inputs, so the test can tell from the outputs whether the entrypoint's prefetch
handed the task the right bytes."""

import glob
import hashlib
import os
import time
from pathlib import Path

import pandas as pd
from flytekit import FlyteContextManager, task
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path) -> str:
    """The SHA-256 of a file's bytes, in hex (the test computes its expectation with it)."""
    return _sha256(Path(path).read_bytes())


def tree_digest(root) -> str:
    """One `relative/path sha256` line per file under `root`, sorted."""
    root = Path(root)
    return "\n".join(f"{p.relative_to(root)} {file_digest(p)}" for p in sorted(root.rglob("*")) if p.is_file())


@task
def checksum_file(f: FlyteFile) -> str:
    return file_digest(f.download())


@task
def checksum_directory(d: FlyteDirectory) -> str:
    return tree_digest(d.download())


@task
def describe_dataframe(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


@task
def ignore_file(f: FlyteFile) -> str:
    return "untouched"


@task
def checksum_file_twice(f: FlyteFile) -> str:
    first = Path(f.download())
    first_sum = file_digest(first)
    first.unlink()
    # FlyteFile downloads once; the file access provider downloads again.
    FlyteContextManager.current_context().file_access.get_data(f.remote_source, str(first))
    return first_sum + " " + file_digest(first)


def _wait_for_the_prefetched_copy() -> None:
    """Under ours with prefetch on (the test says so), waits until the copy is on disk,
    so that the deletion below comes after it."""
    if os.environ.get("PREFETCH_TEST_WAIT_FOR_COPY") != "1":
        return
    pattern = os.path.join(os.environ["PREFETCH_TEST_SCRATCH_PARENT"], "pyflyte-execute-*", "**", "prefetch", "*", "file")
    deadline = time.monotonic() + 60
    while not glob.glob(pattern, recursive=True):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no prefetched copy appeared at {pattern}")
        time.sleep(0.05)


@task
def delete_then_read_file(f: FlyteFile) -> str:
    _wait_for_the_prefetched_copy()
    import s3fs

    fs = s3fs.S3FileSystem(
        key=os.environ["FLYTE_AWS_ACCESS_KEY_ID"],
        secret=os.environ["FLYTE_AWS_SECRET_ACCESS_KEY"],
        client_kwargs={"endpoint_url": os.environ["FLYTE_AWS_ENDPOINT"], "region_name": "us-east-1"},
    )
    fs.rm(f.remote_source)
    return file_digest(f.download())
