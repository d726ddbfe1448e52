"""Prepares one case of the entrypoint parity suite (tests/entrypoints_parity.rs).

    entrypoint_cases.py all - DIR         every case at once: DIR/<case>/inputs.pb and
                                          DIR/<case>/case.json (the line `case` prints)
    entrypoint_cases.py case NAME DIR     inputs.pb in DIR; the container command
    entrypoint_cases.py archive KIND DIR  DIR/code.tar.gz: fast-registered code
                                          (KIND "code"), or a hostile one (KIND
                                          "hostile-dotdot", "hostile-absolute",
                                          "hostile-symlink")
    entrypoint_cases.py wheel - DIR       a wheel of the module parity_runtime_pkg in DIR

The last stdout line of `case` is JSON: {"command": [...], "env": {...}}, the container
command and environment flytekit serialises for the case's task (get_serializable); the
command still holds Propeller's templates
({{.input}}, {{.outputPrefix}}, ...) and, for fast-registered code, the placeholders
@DISTRIBUTION@ and @DEST_DIR@. The test fills them in per run, as Propeller would.
"""

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import typing
import zipfile
from collections import OrderedDict
from pathlib import Path

TASKS = "entrypoint_tasks"
# The module fast-registered code ships; it exists only inside code.tar.gz.
FAST_MODULE = "fast_code_tasks"
FAST_SOURCE = '''
import typing
from flytekit import dynamic, task

@task
def shipped(x: int) -> str:
    return f"shipped code ran with {x}"

@task
def double(x: int) -> int:
    return 2 * x

@dynamic
def shipped_fan_out(n: int) -> typing.List[int]:
    return [double(x=i) for i in range(n)]

@task
def shipped_failure(x: int) -> int:
    if x > 0:
        raise ValueError(f"shipped code refuses {x}")
    return x

@task
def shipped_ancestry(x: int) -> int:
    # As entrypoint_tasks.ancestry, which fast-registered code cannot import.
    import os
    chain, pid = [], os.getppid()
    while pid > 1 and len(chain) < 3:
        chain.append(os.readlink(f"/proc/{pid}/exe"))
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
    with open(os.environ["PARITY_ANCESTRY"], "w") as out:
        out.write("\\n".join(chain) + "\\n")
    return x + 1

@task
def shipped_sleeper(x: int) -> int:
    import os, pathlib, time
    pathlib.Path(os.environ["PARITY_MARKER"]).write_text("running")
    time.sleep(120)
    return x
'''

# case -> (module, task attribute, inputs, fast-registered?)
CASES: typing.Dict[str, typing.Tuple[str, str, dict, bool]] = {
    "dynamic": (TASKS, "fan_out", {"n": 3}, False),
    "array_node_map": (TASKS, "mapped_square", {"x": [3, 5, 7, 9]}, False),
    "legacy_map": (TASKS, "legacy_mapped_square", {"x": [3, 5, 7, 9]}, False),
    "offload": (TASKS, "repeat", {"word": "flyte", "times": 40}, False),
    "offload_map": (TASKS, "mapped_words", {"n": [1, 2, 3]}, False),
    "checkpoint": (TASKS, "resume", {"step": 5}, False),
    "worker_error": (TASKS, "fail_in_worker", {"x": 3}, False),
    "sys_exit": (TASKS, "exit_quietly", {"x": 3}, False),
    "keyboard_interrupt": (TASKS, "raise_base_exception", {"kind": "keyboard_interrupt"}, False),
    "generator_exit": (TASKS, "raise_base_exception", {"kind": "generator_exit"}, False),
    "own_base_exception": (TASKS, "raise_base_exception", {"kind": "own"}, False),
    "lone_surrogate": (TASKS, "lone_surrogate", {"x": 3}, False),
    "legacy_map_error": (TASKS, "legacy_mapped_fail", {"x": [1, 2, 3, 4]}, False),
    "legacy_map_offload": (TASKS, "legacy_mapped_square", {"x": [3, 5, 7, 9]}, False),
    "runtime_package": (TASKS, "use_runtime_package", {"x": 4}, False),
    "deck": (TASKS, "decked", {"x": 1}, False),
    "identity": (TASKS, "identity", {"x": 1}, False),
    "pause": (TASKS, "pause", {"x": 1}, False),
    "deep_list": (TASKS, "nested_deep", {"x": 2}, False),
    "stubborn": (TASKS, "stubborn", {"x": 1}, False),
    "huge_error": (TASKS, "huge_error", {"x": 1}, False),
    "ancestry": (TASKS, "ancestry", {"x": 1}, False),
    "linked_directory": (TASKS, "linked_directory", {"x": 1}, False),
    "dangling_directory": (TASKS, "dangling_directory", {"x": 1}, False),
    "fast": (FAST_MODULE, "shipped", {"x": 6}, True),
    "fast_dynamic": (FAST_MODULE, "shipped_fan_out", {"n": 2}, True),
    "fast_failure": (FAST_MODULE, "shipped_failure", {"x": 6}, True),
    "fast_sleeper": (FAST_MODULE, "shipped_sleeper", {"x": 6}, True),
    "fast_ancestry": (FAST_MODULE, "shipped_ancestry", {"x": 6}, True),
}


def _settings(fast: bool):
    from flytekit.configuration import FastSerializationSettings, ImageConfig, SerializationSettings

    fast_settings = None
    if fast:
        fast_settings = FastSerializationSettings(
            enabled=True, destination_dir="@DEST_DIR@", distribution_location="@DISTRIBUTION@"
        )
    return SerializationSettings(
        image_config=ImageConfig.auto_default_image(),
        project="parity",
        domain="development",
        version="v1",
        fast_serialization_settings=fast_settings,
    )


def _fast_code_dir(dir: Path) -> Path:
    code = dir / "fast-code-src"
    code.mkdir(parents=True, exist_ok=True)
    (code / f"{FAST_MODULE}.py").write_text(FAST_SOURCE)
    return code


def case(name: str, dir: Path) -> str:
    """Writes the inputs.pb of case `name` into `dir`; returns the case's JSON line."""
    # flytekit is imported only here: `archive` and `wheel` need none of it.
    from flytekit import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine
    from flytekit.core.utils import write_proto_to_file
    from flytekit.tools.translator import get_serializable

    module_name, attribute, values, fast = CASES[name]
    code = str(_fast_code_dir(dir.parent) if fast else Path(__file__).parent)
    if code not in sys.path:
        sys.path.insert(0, code)
    module = __import__(module_name)
    entity = getattr(module, attribute)

    dir.mkdir(parents=True, exist_ok=True)
    ctx = FlyteContextManager.current_context()
    literals = TypeEngine.dict_to_literal_map(ctx, values, dict(entity.python_interface.inputs))
    write_proto_to_file(literals.to_flyte_idl(), str(dir / "inputs.pb"))

    spec = get_serializable(OrderedDict(), _settings(fast), entity)
    container = spec.template.container
    return json.dumps({"command": list(container.args), "env": dict(container.env or {})})


def all_cases(dir: Path) -> None:
    """Every case at once, in one Python start-up: DIR/<case>/inputs.pb and case.json."""
    for name in CASES:
        try:
            line = case(name, dir / name)
        except Exception as exc:  # noqa: BLE001 - an older flytekit lacking what a case uses
            # Only the tests that use this case fail, saying why (tests/entrypoint_support).
            (dir / name).mkdir(parents=True, exist_ok=True)
            line = json.dumps({"unavailable": f"{type(exc).__name__}: {exc}"})
        (dir / name / "case.json").write_text(line + "\n")
    print(dir)


def _add(archive: tarfile.TarFile, name: str, data: bytes = b"", **fields) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    archive.addfile(info, io.BytesIO(data) if data else None)


def archive(kind: str, dir: Path) -> None:
    dir.mkdir(parents=True, exist_ok=True)
    path = dir / "code.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        if kind == "code":
            # As `pyflyte register` packs it: the module at the archive's top level.
            tar.add(_fast_code_dir(dir) / f"{FAST_MODULE}.py", arcname=f"{FAST_MODULE}.py")
        elif kind.startswith("hostile-"):
            # A harmless member first, so a refusal must come before anything is written.
            _add(tar, "fine.py", b"print('harmless')\n")
            if kind == "hostile-dotdot":
                _add(tar, "../evil", b"escaped with ..\n")
            elif kind == "hostile-absolute":
                _add(tar, str(dir.resolve() / "absolute-evil"), b"escaped by an absolute path\n")
            elif kind == "hostile-symlink":
                _add(tar, "etc_link", type=tarfile.SYMTYPE, linkname="/etc")
                _add(tar, "etc_link/evil", b"written through a link\n")
            else:
                raise SystemExit(f"unknown archive kind {kind}")
        else:
            raise SystemExit(f"unknown archive kind {kind}")
    print(path)


RUNTIME_PACKAGE = "parity_runtime_pkg"


def wheel(dir: Path) -> None:
    """A pure-Python wheel of one module, built by hand: pip installs it offline, with no
    build backend (the venv has no `wheel` package to build a source directory)."""
    dir.mkdir(parents=True, exist_ok=True)
    dist_info = f"{RUNTIME_PACKAGE}-0.1.dist-info"
    files = {
        f"{RUNTIME_PACKAGE}.py": b'def greet(x):\n    return f"runtime package greets {x}"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {RUNTIME_PACKAGE}\nVersion: 0.1\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: parity\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = dir / f"{RUNTIME_PACKAGE}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    print(path)


def main() -> None:
    what, name, dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    os.environ.setdefault("FLYTE_SDK_LOGGING_LEVEL", "40")
    if what == "case":
        print(case(name, dir))
    elif what == "all":
        all_cases(dir)
    elif what == "archive":
        archive(name, dir)
    elif what == "wheel":
        wheel(dir)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
