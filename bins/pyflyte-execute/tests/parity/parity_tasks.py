"""Tasks the parity suite runs under flytekit's pyflyte-execute and under ours.

Each task exercises one kind of value or one way a task can end. make_inputs.py holds the
inputs each case feeds them.
"""

import ctypes
import datetime
import enum
import os
import signal
import typing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from flytekit import StructuredDataset, current_context, task
from flytekit.core.base_task import IgnoreOutputs
from flytekit.exceptions.user import FlyteRecoverableException
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile


def _workdir() -> Path:
    return Path(current_context().working_directory)


# Values in and out


@task
def primitives(
    i: int, f: float, s: str, b: bool, when: datetime.datetime, span: datetime.timedelta
) -> typing.Tuple[int, float, str, bool, datetime.datetime, datetime.timedelta]:
    return i + 1, f * 2.5, s.upper(), not b, when + span, span * 3


@task
def collections(xs: typing.List[int], weights: typing.Dict[str, float]) -> typing.Tuple[
    typing.List[str], typing.Dict[str, typing.List[int]]
]:
    return [str(x) for x in xs], {k: [int(v)] * 2 for k, v in weights.items()}


@task
def optional(x: typing.Optional[int]) -> typing.Optional[int]:
    return None if x is None else x * 2


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


@task
def next_color(c: Color) -> Color:
    members = list(Color)
    return members[(members.index(c) + 1) % len(members)]


# flytekit before 1.12 serialises only dataclasses that carry a JSON mixin; later ones take
# plain dataclasses, which the suite keeps for them (the version matrix runs this module on
# every supported flytekit).
def _flytekit_release() -> typing.Tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in version("flytekit").split(".")[:2] if part.isdigit())


if _flytekit_release() < (1, 12):
    from mashumaro.mixins.json import DataClassJSONMixin as _PointBase
else:
    _PointBase = object


@dataclass
class Point(_PointBase):
    x: int
    y: float
    label: str
    tags: typing.List[str]


@task
def move_point(p: Point, dx: int) -> Point:
    return Point(x=p.x + dx, y=p.y / 2, label=p.label + "!", tags=p.tags + ["moved"])


Summary = typing.NamedTuple("Summary", [("total", int), ("mean", float), ("name", str)])


@task
def summarize(xs: typing.List[int]) -> Summary:
    return Summary(total=sum(xs), mean=sum(xs) / len(xs), name="summary")


@task
def shout_file(f: FlyteFile) -> FlyteFile:
    out = _workdir() / "shouted.txt"
    with open(f) as src:
        out.write_text(src.read().upper())
    return FlyteFile(str(out))


@task
def shout_directory(d: FlyteDirectory) -> FlyteDirectory:
    d.download()
    out = _workdir() / "shouted"
    for src in sorted(Path(d.path).rglob("*")):
        if src.is_file():
            dst = out / src.relative_to(d.path)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(src.read_text().upper())
    return FlyteDirectory(str(out))


@task
def double_dataframe(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(doubled=df["x"] * 2)


@task
def filter_dataset(sd: StructuredDataset) -> StructuredDataset:
    df = sd.open(pd.DataFrame).all()
    return StructuredDataset(dataframe=df[df["x"] > 1].reset_index(drop=True))


@task
def no_outputs(x: int) -> None:
    print(f"got {x}, returning nothing")


# Ways a task can fail


@task
def raise_value_error(x: int) -> int:
    if x <= 0:
        raise ValueError(f"x must be positive, got {x}")
    return x


@task
def raise_recoverable(attempt: int) -> int:
    if attempt < 3:
        raise FlyteRecoverableException(f"upstream service unavailable (attempt {attempt})")
    return attempt


@task
def ignore_outputs(x: int) -> int:
    if x > 0:
        raise IgnoreOutputs(f"outputs of {x} are not needed")
    return x


# Ways the worker process can die


@task
def segfault(x: int) -> int:
    return len(ctypes.string_at(0))


@task
def exit_one(x: int) -> int:
    os._exit(1)
    return x


@task
def sigkill_self(x: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return x


# What a task leaves for the process's exit


@task
def leave_work_for_exit(x: int) -> int:
    """Output only the process's exit produces, in the order Python's exit produces it: a
    non-daemon thread is joined, then the atexit handlers run, and buffered stdout, both
    Python's and C's, is flushed."""
    import atexit
    import threading
    import time

    def finish_later():
        time.sleep(0.2)
        print("a non-daemon thread finished after the task returned")

    atexit.register(print, "an atexit handler ran after the thread")
    threading.Thread(target=finish_later).start()
    ctypes.CDLL(None).printf(b"C stdio's buffered line\n")
    print("Python's buffered line", end="\n", flush=False)
    return x
