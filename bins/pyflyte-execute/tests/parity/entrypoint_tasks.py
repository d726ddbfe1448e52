"""Tasks for the entrypoint parity suite (tests/entrypoints_parity.rs): dynamic tasks, map
tasks, checkpoints, literal offloading, distributed errors, runtime packages, decks and
directories holding symbolic links.

entrypoint_cases.py builds each case's inputs and the container command flytekit
serialises for the task; the tests run that command under flytekit and under ours.
"""

import os
import sys
import typing

from flytekit import Deck, current_context, dynamic, task, workflow
from flytekit.core.array_node_map_task import map_task

try:
    from flytekit.core.legacy_map_task import map_task as legacy_map_task
except ImportError:  # flytekit before 1.12 names the module of the legacy map task map_task
    from flytekit.core.map_task import map_task as legacy_map_task
from flytekit.types.directory import FlyteDirectory


@task
def square(x: int) -> int:
    return x * x


@task
def describe(x: int, label: str) -> str:
    return f"{label}={x}"


@workflow
def square_then_describe(x: int) -> str:
    return describe(x=square(x=x), label="squared")


@dynamic
def fan_out(n: int) -> typing.List[int]:
    """A dynamic workflow of n square tasks and one sub-workflow."""
    squares = [square(x=i) for i in range(n)]
    square_then_describe(x=n)
    return squares


# The two map task flavours flytekit serialises for pyflyte-map-execute.
mapped_square = map_task(square)
legacy_mapped_square = legacy_map_task(square)


@task
def repeat(word: str, times: int) -> typing.Tuple[str, typing.List[int]]:
    """Outputs whose size the test controls, for literal offloading."""
    return word * times, list(range(times))


@task
def words(n: int) -> typing.List[str]:
    return [f"word-{i}" * 8 for i in range(n)]


mapped_words = map_task(words)


@task
def resume(step: int) -> int:
    """Adds `step` to the count kept in the previous checkpoint and checkpoints the sum."""
    checkpoint = current_context().checkpoint
    previous = checkpoint.read()
    total = (int(previous.decode()) if previous else 0) + step
    checkpoint.write(str(total).encode())
    return total


@task
def fail_in_worker(x: int) -> int:
    if x > 0:
        raise ValueError(f"worker could not handle {x}")
    return x


legacy_mapped_fail = legacy_map_task(fail_in_worker)


@task
def exit_quietly(x: int) -> None:
    # SystemExit is no Exception: flytekit's entrypoint dies with it and writes nothing.
    sys.exit(x)


class Boom(BaseException):
    """A task's own BaseException, which flytekit's user scope (Exception only) lets by."""


@task
def raise_base_exception(kind: str) -> int:
    # BaseExceptions that are not Exceptions: flytekit's entrypoint dies with them and
    # writes nothing; ours reports them as flytekit reports the task's own exceptions.
    if kind == "keyboard_interrupt":
        raise KeyboardInterrupt("the task interrupted itself")
    if kind == "generator_exit":
        raise GeneratorExit("the task closed itself")
    if kind == "own":
        raise Boom("the task's own BaseException")
    return 0


@task
def lone_surrogate(x: int) -> int:
    # A lone surrogate cannot be encoded as UTF-8: flytekit's entrypoint fails writing
    # the error document and writes nothing.
    if x > 0:
        raise ValueError(f"undecodable \udc80 byte in {x}")
    return x


@task
def use_runtime_package(x: int) -> str:
    # Installed from _F_RUNTIME_PACKAGES before the task is loaded.
    import parity_runtime_pkg

    return parity_runtime_pkg.greet(x)


@task
def pause(x: int) -> int:
    """Says it is running (the file PARITY_MARKER names), then takes a few seconds."""
    import os
    import pathlib
    import time

    pathlib.Path(os.environ["PARITY_MARKER"]).write_text("running")
    time.sleep(4)
    return x


@task
def identity(x: int) -> typing.List[str]:
    """What flytekit made of the pod's FLYTE_INTERNAL_* execution and task identity."""
    ctx = current_context()
    execution, task_id = ctx.execution_id, ctx.task_id
    return [execution.project, execution.domain, execution.name, task_id.project, task_id.name, task_id.version]


@task(enable_deck=True)
def decked(x: int) -> int:
    Deck("parity", f"<p>parity deck for {x}</p>")
    return x + 1


# A list nested 49 deep: 98 messages of Literal and LiteralCollection, which flytekit
# writes and prost's fixed limit of 100 messages refused to read.
NESTING = 49


def nested_deep(x: int):
    value = x
    for _ in range(NESTING):
        value = [value]
    return value


_deep_type = int
for _ in range(NESTING):
    _deep_type = typing.List[_deep_type]
nested_deep.__annotations__["return"] = _deep_type
nested_deep = task(nested_deep)


@task
def huge_error(x: int) -> int:
    """Raises with a 50 MiB message, which makes flytekit's error.pb about 100 MiB."""
    if x > 0:
        raise ValueError("too big to tell: " + "x" * (50 * 1024 * 1024) + f" (for {x})")
    return x


@task
def stubborn(x: int) -> int:
    """Ignores SIGTERM, writes its pid to the file PARITY_MARKER names, then sleeps."""
    import os
    import pathlib
    import signal
    import time

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pathlib.Path(os.environ["PARITY_MARKER"]).write_text(str(os.getpid()))
    time.sleep(300)
    return x


@task
def ancestry(x: int) -> int:
    """Writes the executables of the task process's parent, grandparent and great-grandparent
    to the file PARITY_ANCESTRY names, one a line: which supervisor ran it."""
    chain, pid = [], os.getppid()
    while pid > 1 and len(chain) < 3:
        chain.append(os.readlink(f"/proc/{pid}/exe"))
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
    with open(os.environ["PARITY_ANCESTRY"], "w") as out:
        out.write("\n".join(chain) + "\n")
    return x + 1


def _linked_tree(name: str) -> str:
    """A training run's directory as users leave it: steps, `latest` pointing at the last
    one, a link to a file, a link out of the tree and a link back up it."""
    from pathlib import Path

    work = Path(current_context().working_directory)
    outside = work / "outside"
    outside.mkdir()
    (outside / "host-secret").write_text("not for upload")
    tree = work / name
    for step in (1, 2):
        (tree / f"step-{step}").mkdir(parents=True)
        (tree / f"step-{step}" / "model.bin").write_text(f"model {step}")
    (tree / "latest").symlink_to("step-2")
    (tree / "model-link.bin").symlink_to("step-2/model.bin")
    (tree / "outside-link").symlink_to(outside)
    (tree / "step-1" / "loop").symlink_to("..")
    return str(tree)


@task
def linked_directory(x: int) -> FlyteDirectory:
    return FlyteDirectory(_linked_tree("linked"))


@task
def dangling_directory(x: int) -> FlyteDirectory:
    from pathlib import Path

    tree = Path(_linked_tree("dangling"))
    (tree / "gone").symlink_to("nothing-here")
    return FlyteDirectory(str(tree))
