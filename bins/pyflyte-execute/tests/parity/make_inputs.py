"""Writes the inputs.pb of one parity case, the way flytekit's own tooling would.

    make_inputs.py CASE OUT --data-dir DIR --raw-prefix PREFIX

Files, directories and dataframes are first created under DIR, then flytekit's TypeEngine
uploads them to PREFIX while it turns the values into a LiteralMap. The last stdout line is
"TASK_MODULE TASK_NAME", the resolver arguments the case runs with.
"""

import argparse
import datetime
import importlib
import sys
import typing
from pathlib import Path

import pandas as pd
from flytekit import FlyteContextManager, StructuredDataset
from flytekit.core.data_persistence import FileAccessProvider
from flytekit.core.type_engine import TypeEngine
from flytekit.core.utils import write_proto_to_file
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile

TASKS = "parity_tasks"
PREFETCH = "prefetch_tasks"


def _text_file(data: Path) -> FlyteFile:
    path = data / "greeting.txt"
    path.write_text("hello from the parity suite\n")
    return FlyteFile(str(path))


def _directory(data: Path) -> FlyteDirectory:
    root = data / "letters"
    (root / "nested").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "b.txt").write_text("bravo\n")
    (root / "nested" / "c.txt").write_text("charlie\n")
    return FlyteDirectory(str(root))


def _binary_file(data: Path) -> FlyteFile:
    path = data / "payload.bin"
    path.write_bytes(bytes((i * 7 + i // 251) % 256 for i in range(300_000)))
    return FlyteFile(str(path))


def _deep_directory(data: Path) -> FlyteDirectory:
    root = data / "tree"
    for i, name in enumerate(["top.txt", "one/a.bin", "one/two/b.bin", "one/two/three/c.txt", "other/d.bin"]):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes((j * (i + 3)) % 256 for j in range(1000 * (i + 1) ** 3)))
    return FlyteDirectory(str(root))


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2, 3], "label": ["one", "two", "three"]})


def _primitives(_):
    return {
        "i": 41,
        "f": 1.25,
        "s": "mixed Case",
        "b": True,
        "when": datetime.datetime(2024, 2, 29, 23, 59, 30, 123456, tzinfo=datetime.timezone.utc),
        "span": datetime.timedelta(hours=1, seconds=2, microseconds=5),
    }


def _x(value):
    return lambda _: {"x": value}


# case -> (module, task name, inputs built from the data directory)
CASES: typing.Dict[str, typing.Tuple[str, str, typing.Callable[[Path], dict]]] = {
    "primitives": (TASKS, "primitives", _primitives),
    "collections": (TASKS, "collections", lambda _: {"xs": [3, 1, 2], "weights": {"a": 1.5, "b": 2.0}}),
    "optional_none": (TASKS, "optional", _x(None)),
    "optional_value": (TASKS, "optional", _x(21)),
    "enum": (TASKS, "next_color", lambda _: {"c": importlib.import_module(TASKS).Color.BLUE}),
    "dataclass": (
        TASKS,
        "move_point",
        lambda _: {"p": importlib.import_module(TASKS).Point(1, 3.0, "p", ["a"]), "dx": 4},
    ),
    "named_tuple": (TASKS, "summarize", lambda _: {"xs": [1, 2, 3, 4]}),
    "flyte_file": (TASKS, "shout_file", lambda data: {"f": _text_file(data)}),
    "flyte_directory": (TASKS, "shout_directory", lambda data: {"d": _directory(data)}),
    "dataframe": (TASKS, "double_dataframe", lambda _: {"df": _frame()}),
    "structured_dataset": (
        TASKS,
        "filter_dataset",
        lambda _: {"sd": StructuredDataset(dataframe=_frame())},
    ),
    "no_outputs": (TASKS, "no_outputs", _x(7)),
    "value_error": (TASKS, "raise_value_error", _x(-3)),
    "recoverable": (TASKS, "raise_recoverable", lambda _: {"attempt": 2}),
    "ignore_outputs": (TASKS, "ignore_outputs", _x(5)),
    "segfault": (TASKS, "segfault", _x(1)),
    "exit_one": (TASKS, "exit_one", _x(1)),
    "leave_work_for_exit": (TASKS, "leave_work_for_exit", _x(1)),
    "sigkill": (TASKS, "sigkill_self", _x(1)),
    "import_error": ("broken_at_import", "unreachable", _x(1)),
    "unknown_task": (TASKS, "no_such_task", _x(1)),
    "prefetch_file": (PREFETCH, "checksum_file", lambda data: {"f": _binary_file(data)}),
    "prefetch_directory": (PREFETCH, "checksum_directory", lambda data: {"d": _deep_directory(data)}),
    "prefetch_dataframe": (PREFETCH, "describe_dataframe", lambda _: {"df": _frame()}),
    "prefetch_unused_file": (PREFETCH, "ignore_file", lambda data: {"f": _binary_file(data)}),
    "prefetch_file_twice": (PREFETCH, "checksum_file_twice", lambda data: {"f": _binary_file(data)}),
    "prefetch_deleted_file": (PREFETCH, "delete_then_read_file", lambda data: {"f": _binary_file(data)}),
    "bridge_modules": ("bridge_tasks", "move_files", lambda data: {"f": _text_file(data), "d": _directory(data)}),
}


# Cases whose task cannot be loaded: their inputs are typed here instead.
UNLOADABLE = {"import_error": {"x": int}, "unknown_task": {"x": int}}


def _input_types(case: str) -> dict:
    if case in UNLOADABLE:
        return UNLOADABLE[case]
    module, name, _ = CASES[case]
    return dict(getattr(importlib.import_module(module), name).python_interface.inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("out", type=Path, help="where to write inputs.pb")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--raw-prefix", required=True)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    module, name, build = CASES[args.case]
    args.data_dir.mkdir(parents=True, exist_ok=True)
    values = build(args.data_dir)
    types = _input_types(args.case)

    files = FileAccessProvider(local_sandbox_dir=str(args.data_dir / ".sandbox"), raw_output_prefix=args.raw_prefix)
    with FlyteContextManager.with_context(FlyteContextManager.current_context().with_file_access(files)) as ctx:
        literals = TypeEngine.dict_to_literal_map(ctx, values, types)
    write_proto_to_file(literals.to_flyte_idl(), str(args.out))
    print(module, name)


if __name__ == "__main__":
    main()
