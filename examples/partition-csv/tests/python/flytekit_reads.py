"""flytekit's side of the example's end-to-end test (tests/end_to_end.rs): reads what
the Rust task left under its output prefix the way a downstream Python task would, and
prints it as JSON.

    flytekit_reads.py outputs OUTPUT_PREFIX WORK_DIR
        outputs.pb: {"count": o1, "parts": {relative path: text}} of the FlyteDirectory o0,
        downloaded by flytekit's TypeEngine.

    flytekit_reads.py error OUTPUT_PREFIX WORK_DIR
        error.pb: {"code", "kind", "origin", "message"} of its ContainerError.

Storage settings come from the environment (FLYTE_AWS_*, STORAGE_EMULATOR_HOST,
FLYTE_AZURE_*), as in a task pod.
"""

import json
import sys
from pathlib import Path

from flyteidl.core import errors_pb2, literals_pb2
from flytekit import FlyteContextManager
from flytekit.core.data_persistence import FileAccessProvider
from flytekit.core.type_engine import TypeEngine
from flytekit.core.utils import load_proto_from_file
from flytekit.models.core.errors import ErrorDocument
from flytekit.models.literals import LiteralMap
from flytekit.types.directory import FlyteDirectory


def main() -> None:
    what, output_prefix, work = sys.argv[1], sys.argv[2].rstrip("/"), Path(sys.argv[3])
    files = FileAccessProvider(local_sandbox_dir=str(work / "sandbox"), raw_output_prefix=str(work / "raw"))
    name = {"outputs": "outputs.pb", "error": "error.pb"}[what]
    local = work / name
    files.get_data(f"{output_prefix}/{name}", str(local))
    if what == "error":
        error = ErrorDocument.from_flyte_idl(load_proto_from_file(errors_pb2.ErrorDocument, str(local))).error
        print(json.dumps({"code": error.code, "kind": error.kind, "origin": error.origin, "message": error.message}))
        return
    literals = LiteralMap.from_flyte_idl(load_proto_from_file(literals_pb2.LiteralMap, str(local))).literals
    context = FlyteContextManager.current_context().with_file_access(files)
    with FlyteContextManager.with_context(context) as ctx:
        directory = TypeEngine.to_python_value(ctx, literals["o0"], FlyteDirectory)
        count = TypeEngine.to_python_value(ctx, literals["o1"], int)
        root = Path(directory.download())
        parts = {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}
    print(json.dumps({"count": count, "parts": parts}))


if __name__ == "__main__":
    main()
