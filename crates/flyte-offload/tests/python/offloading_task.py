"""The task flytekit's own pyflyte-execute runs for tests/flytekit_offloaded_outputs.rs:
with `_F_L_MIN_SIZE_MB=0` its entrypoint offloads every output literal to
`<output prefix>/<name>_offloaded_metadata.pb`, which ours must read through."""

import typing
from pathlib import Path

from flytekit import current_context, task
from flytekit.types.file import FlyteFile


@task
def shards(count: int) -> typing.Tuple[typing.List[FlyteFile], typing.Dict[str, FlyteFile]]:
    """`count` files, as a list and as a map keyed `k<i>`; file i holds "shard <i>"."""
    root = Path(current_context().working_directory)
    files = []
    for i in range(count):
        path = root / f"shard-{i}.txt"
        path.write_text(f"shard {i}\n")
        files.append(FlyteFile(str(path)))
    return files, {f"k{i}": file for i, file in enumerate(files)}
