"""Real flytekit-made messages, for the Rust round-trip test (crates/flyte-proto/tests/flytekit_round_trip.rs).

    flytekit_literals.py write DIR    writes, per case, DIR/<case>.pb (flytekit's own
                                      `SerializeToString()`, as a task would write it) and
                                      DIR/<case>.deterministic.pb (`deterministic=True`),
                                      plus DIR/manifest.json describing every case.
    flytekit_literals.py verify DIR   reads DIR/<case>.rust.pb (written by the Rust test),
                                      checks it parses to the same message as <case>.pb and,
                                      for LiteralMaps, that flytekit turns it into the same
                                      Python values. Exits non-zero listing every mismatch.

Values are converted by flytekit's TypeEngine with the current context, exactly as a task's
inputs and outputs are, so the bytes are what pyflyte-execute would meet in production.
"""

import dataclasses
import datetime
import enum
import json
import pathlib
import sys
import typing

from flyteidl.core import errors_pb2, literals_pb2
from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.models.core import errors as error_models
from flytekit.models.core import execution as execution_models
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile
from google.protobuf.timestamp_pb2 import Timestamp


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass
class Point:
    x: int
    y: float
    tags: typing.List[str]


def literal_map_cases():
    """Case name -> (python values, python types) for TypeEngine.dict_to_literal_map."""
    return {
        "primitives": (
            {
                "count": 42,
                "ratio": 3.5,
                "name": "hello, flyte",
                "flag": True,
                "when": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc),
                "elapsed": datetime.timedelta(minutes=1, seconds=30, microseconds=500),
            },
            {
                "count": int,
                "ratio": float,
                "name": str,
                "flag": bool,
                "when": datetime.datetime,
                "elapsed": datetime.timedelta,
            },
        ),
        "collections": (
            {"ints": [1, 2, 3], "scores": {"alice": 1.5, "bob": 2.0, "carol": -0.25}, "nested": [["a"], ["b", "c"]]},
            {
                "ints": typing.List[int],
                "scores": typing.Dict[str, float],
                "nested": typing.List[typing.List[str]],
            },
        ),
        "optional": (
            {"missing": None, "present": 7},
            {"missing": typing.Optional[int], "present": typing.Optional[int]},
        ),
        "enum": ({"color": Color.GREEN}, {"color": Color}),
        "dataclass": ({"point": Point(x=1, y=2.5, tags=["a", "b"])}, {"point": Point}),
        "flyte_file": (
            # Remote sources: flytekit records the URI without uploading anything.
            {"file": FlyteFile("s3://bucket/data/report.csv"), "directory": FlyteDirectory("s3://bucket/data/parts/")},
            {"file": FlyteFile, "directory": FlyteDirectory},
        ),
        # A task with eleven outputs: o1 is a prefix of o10, which is where upb's
        # deterministic map order departs from plain byte order.
        "prefix_keys": ({f"o{i}": i for i in range(11)}, {f"o{i}": int for i in range(11)}),
    }


def error_document():
    container_error = error_models.ContainerError(
        code="USER:ValueError",
        message="Traceback (most recent call last):\n  ...\nValueError: negative input",
        kind=error_models.ContainerError.Kind.NON_RECOVERABLE,
        origin=execution_models.ExecutionError.ErrorKind.USER,
        timestamp=Timestamp(seconds=1_704_164_645, nanos=678_901_000),
        worker="worker-0",
    )
    return error_models.ErrorDocument(container_error)


def map_facts(message):
    """(has a map with two or more entries, has a map where one key is a prefix of another),
    over every map field anywhere in `message`, found through its descriptor."""
    several, prefix = False, False

    def visit(msg):
        nonlocal several, prefix
        for field, value in msg.ListFields():
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                keys = list(value.keys())
                several |= len(keys) >= 2
                prefix |= any(a != b and b.startswith(a) for a in keys for b in keys)
                value_field = field.message_type.fields_by_name["value"]
                if value_field.message_type is not None:
                    for item in value.values():
                        visit(item)
            elif field.message_type is not None:
                for item in value if field.is_repeated else [value]:
                    visit(item)

    visit(message)
    return several, prefix


def all_messages():
    """Case name -> (protobuf message type name, protobuf message)."""
    ctx = FlyteContextManager.current_context()
    messages = {}
    for name, (values, types) in literal_map_cases().items():
        messages[name] = ("LiteralMap", TypeEngine.dict_to_literal_map(ctx, values, types).to_flyte_idl())
    messages["error_document"] = ("ErrorDocument", error_document().to_flyte_idl())
    return messages


def write(directory):
    manifest = []
    for name, (message_type, message) in all_messages().items():
        (directory / f"{name}.pb").write_bytes(message.SerializeToString())
        (directory / f"{name}.deterministic.pb").write_bytes(message.SerializeToString(deterministic=True))
        several, prefix = map_facts(message)
        manifest.append(
            {"name": name, "message": message_type, "maps_with_several_entries": several, "prefix_keys": prefix}
        )
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))


def comparable(value):
    """FlyteFile/FlyteDirectory read back download lazily to a fresh local path and keep the
    URI as their remote source; built from a URI, some keep it as their path instead."""
    if isinstance(value, (FlyteFile, FlyteDirectory)):
        return ("remote", str(value.remote_source or value.path))
    return value


def verify(directory):
    ctx = FlyteContextManager.current_context()
    parsers = {"LiteralMap": literals_pb2.LiteralMap, "ErrorDocument": errors_pb2.ErrorDocument}
    cases = literal_map_cases()
    mismatches = []
    for entry in json.loads((directory / "manifest.json").read_text()):
        name, parse = entry["name"], parsers[entry["message"]].FromString
        original = parse((directory / f"{name}.pb").read_bytes())
        from_rust = parse((directory / f"{name}.rust.pb").read_bytes())
        if original != from_rust:
            mismatches.append(f"{name}: the Rust bytes parse to a different message")
            continue
        if entry["message"] == "LiteralMap":
            from flytekit.models.literals import LiteralMap

            values, types = cases[name]
            read_back = TypeEngine.literal_map_to_kwargs(ctx, LiteralMap.from_flyte_idl(from_rust), types)
            want = {k: comparable(v) for k, v in values.items()}
            have = {k: comparable(v) for k, v in read_back.items()}
            if want != have:
                mismatches.append(f"{name}: flytekit reads {have!r}, expected {want!r}")
    if mismatches:
        sys.exit("\n".join(mismatches))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "verify"):
        sys.exit(f"usage: {sys.argv[0]} write|verify DIR")
    directory = pathlib.Path(sys.argv[2])
    (write if sys.argv[1] == "write" else verify)(directory)


if __name__ == "__main__":
    main()
