"""Tasks for `cargo xtask demo`: run them with cwd=examples and `task-module demo.tasks`."""

from pathlib import Path

from flytekit import current_context, task
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile


@task
def divider(a: int, b: int) -> float:
    """Divides a by b; b=0 shows how a user error comes back as error.pb."""
    return a / b


@task
def write_report(title: str) -> FlyteFile:
    """Writes a small text file; the entrypoint uploads it to the raw output prefix."""
    path = Path(current_context().working_directory) / "report.txt"
    path.write_text(f"# {title}\n\nAll good.\n")
    return FlyteFile(str(path))


@task
def write_shards(count: int) -> FlyteDirectory:
    """Writes `count` small files into one directory, uploaded as a whole."""
    out = Path(current_context().working_directory) / "shards"
    out.mkdir()
    for i in range(count):
        (out / f"shard-{i}.txt").write_text(f"shard {i}\n")
    return FlyteDirectory(str(out))
