"""flytekit's half of flyte-offload's round trips (tests/flytekit_round_trip.rs).

    flytekit_side.py make  OUT.pb --data-dir DIR --raw-prefix PREFIX
        flytekit's TypeEngine offloads the values of VALUES (files made under DIR) to
        PREFIX and writes the LiteralMap to OUT.pb, for ours to materialise.

    flytekit_side.py parquet PATH
        writes FRAME as one parquet file at PATH, for ours to offload as a dataset.

    flytekit_side.py csv PATH
        writes FRAME as one CSV file at PATH (pandas' to_csv, as flytekit's CSV encoder
        calls it), for ours to offload as a csv dataset.

    flytekit_side.py check IN.pb --work-dir DIR
        flytekit's TypeEngine reads the LiteralMap ours offloaded back into Python values
        and checks every content, nesting, format and column; exits non-zero, saying
        what differs, on any mismatch.

The contents are fixed here and in the Rust test (CONTENTS there); a change to one
without the other fails the test.
"""

import argparse
import os
import sys
import typing
from pathlib import Path

import pandas as pd
from flytekit import FlyteContextManager, StructuredDataset, kwtypes
from flytekit.core.data_persistence import FileAccessProvider
from flytekit.core.type_engine import TypeEngine
from flytekit.core.utils import load_proto_from_file, write_proto_to_file
from flytekit.models.literals import LiteralMap
from flytekit.types.structured.structured_dataset import CSV
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile

from typing_extensions import Annotated

# Relative path -> bytes of every file the round trips move (the Rust test has the same).
FILE_TEXT = b"hello from flytekit\n"
TREE = {
    "a.txt": b"alpha\n",
    "nested/b.txt": b"bravo\n",
    "nested/deeper/c.bin": bytes(range(256)) * 40,
}
FRAME = pd.DataFrame({"x": [1, 2, 3], "label": ["one", "two", "three"]})
Columns = kwtypes(x=int, label=str)
CsvFile = FlyteFile[typing.TypeVar("csv")]


def write_tree(root: Path) -> None:
    for name, data in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict:
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def context(sandbox: Path, raw_prefix: str):
    files = FileAccessProvider(local_sandbox_dir=str(sandbox), raw_output_prefix=raw_prefix)
    return FlyteContextManager.with_context(FlyteContextManager.current_context().with_file_access(files))


def make(args) -> None:
    data = Path(args.data_dir)
    report = data / "report.csv"
    report.write_bytes(FILE_TEXT)
    tree = data / "tree"
    write_tree(tree)
    items = []
    for i in range(3):
        path = data / f"item{i}.txt"
        path.write_bytes(f"item {i}\n".encode())
        items.append(FlyteFile(str(path)))
    values = {
        "file": CsvFile(str(report)),
        "directory": FlyteDirectory(str(tree)),
        "frame": StructuredDataset(dataframe=FRAME),
        "frame_csv": StructuredDataset(dataframe=FRAME),
        "files": items,
        "by_name": {"first": FlyteFile(str(data / "item0.txt")), "second": FlyteFile(str(data / "item1.txt"))},
        "count": 7,
    }
    types = {
        "file": CsvFile,
        "directory": FlyteDirectory,
        "frame": Annotated[StructuredDataset, Columns],
        "frame_csv": Annotated[StructuredDataset, Columns, CSV],
        "files": typing.List[FlyteFile],
        "by_name": typing.Dict[str, FlyteFile],
        "count": int,
    }
    with context(data / ".sandbox", args.raw_prefix) as ctx:
        literals = TypeEngine.dict_to_literal_map(ctx, values, types)
    write_proto_to_file(literals.to_flyte_idl(), args.out)


def check(args) -> None:
    work = Path(args.work_dir)
    proto = load_proto_from_file(__import__("flyteidl.core.literals_pb2", fromlist=["LiteralMap"]).LiteralMap, args.input)
    literals = LiteralMap.from_flyte_idl(proto).literals
    problems = []

    def expect(what, actual, wanted):
        if actual != wanted:
            problems.append(f"{what}: flytekit read {actual!r}, expected {wanted!r}")

    with context(work / ".sandbox", str(work / "unused-raw")) as ctx:
        file_literal = literals["file"]
        expect("file format", file_literal.scalar.blob.metadata.type.format, "csv")
        expect("file dimensionality", file_literal.scalar.blob.metadata.type.dimensionality, 0)
        expect("file name kept", file_literal.scalar.blob.uri.rsplit("/", 1)[-1], "report.csv")
        f = TypeEngine.to_python_value(ctx, file_literal, CsvFile)
        with open(f, "rb") as handle:
            expect("file bytes", handle.read(), FILE_TEXT)

        dir_literal = literals["directory"]
        expect("directory dimensionality", dir_literal.scalar.blob.metadata.type.dimensionality, 1)
        expect("directory format", dir_literal.scalar.blob.metadata.type.format, "")
        d = TypeEngine.to_python_value(ctx, dir_literal, FlyteDirectory)
        d.download()
        expect("directory tree", read_tree(Path(d.path)), TREE)

        for name, format in [("frame", "parquet"), ("frame_dir", "parquet"), ("frame_csv", CSV)]:
            sd_literal = literals[name]
            sd_type = sd_literal.scalar.structured_dataset.metadata.structured_dataset_type
            expect(f"{name} format", sd_type.format, format)
            expect(
                f"{name} columns",
                [(c.name, c.literal_type.simple) for c in sd_type.columns],
                [("x", 1), ("label", 3)],
            )
            df = TypeEngine.to_python_value(ctx, sd_literal, pd.DataFrame)
            expect(f"{name} as a DataFrame", df.to_dict("list"), FRAME.to_dict("list"))
            sd = TypeEngine.to_python_value(ctx, sd_literal, Annotated[StructuredDataset, Columns, format])
            expect(f"{name} as a StructuredDataset", sd.open(pd.DataFrame).all().to_dict("list"), FRAME.to_dict("list"))

    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print("flytekit read every value")


def parquet(args) -> None:
    FRAME.to_parquet(args.path)


def csv(args) -> None:
    FRAME.to_csv(args.path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make")
    p.add_argument("out")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--raw-prefix", required=True)
    p = sub.add_parser("check")
    p.add_argument("input")
    p.add_argument("--work-dir", required=True)
    p = sub.add_parser("parquet")
    p.add_argument("path")
    p = sub.add_parser("csv")
    p.add_argument("path")
    args = parser.parse_args()
    {"make": make, "check": check, "parquet": parquet, "csv": csv}[args.command](args)


if __name__ == "__main__":
    main()
