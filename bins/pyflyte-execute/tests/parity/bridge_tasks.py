"""A task that moves files and directories both ways, then says which storage client
modules its process has imported (the storage bridge must leave that list empty)."""

import sys
from pathlib import Path

from flytekit import current_context, task
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile

# Importing any of these means remote I/O happened (or could) in Python.
STORAGE_CLIENTS = ("s3fs", "gcsfs", "adlfs", "botocore", "aiobotocore", "azure.storage")


@task
def move_files(f: FlyteFile, d: FlyteDirectory) -> (FlyteFile, FlyteDirectory, list[str]):
    text = Path(f.download()).read_text()
    names = sorted(p.name for p in Path(d.download()).rglob("*") if p.is_file())
    work = Path(current_context().working_directory)
    out_file = work / "summary.txt"
    out_file.write_text(text.upper() + ",".join(names))
    out_dir = work / "copies"
    out_dir.mkdir()
    for name in names:
        (out_dir / name).write_text(name)
    loaded = sorted(m for m in sys.modules if any(m == c or m.startswith(c + ".") for c in STORAGE_CLIENTS))
    return FlyteFile(str(out_file)), FlyteDirectory(str(out_dir)), loaded
