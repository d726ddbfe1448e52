"""pyflyte-execute in Rust, installed beside flytekit: it takes over flytekit's entrypoints.

flytekit's wheel owns the console scripts `pyflyte-execute`, `pyflyte-fast-execute` and
`pyflyte-map-execute`; this package never writes or removes them. Instead,
`pyflyte_execute_rs.pth` (which Python's `site` runs at every interpreter start in this
environment) calls `take_over` when the program is one of those three scripts, and
`take_over` replaces the process with the Rust binary shipped in this package, under the
same name and arguments. So whichever is installed or upgraded first, the entrypoints
are ours while this package is installed, and flytekit's again once it is uninstalled.

The binary runs the task's worker with this interpreter (`sys.executable`) unless
`PYFLYTE_EXECUTE_PYTHON` names another. `PYFLYTE_EXECUTE_USE_FLYTEKIT=1` leaves flytekit's
own entrypoint running (to roll one task back without rebuilding its image).

The hook also stands aside, with one line on stderr, when the installed flytekit is
outside the range the binary runs tasks with (SUPPORTED_FLYTEKIT_MIN up to, not including,
SUPPORTED_FLYTEKIT_BELOW; the binary's crates/flyte-python/src/compat.rs says the same, and a
test checks the two agree): an image on flytekit 1.9 or 2.x keeps working with its own
entrypoint.

This code runs inside flytekit's console script before anything else: it only reads the
script's first bytes, flytekit's package metadata and the environment, and stands aside on
any doubt.
"""

import os
import sys

#: The console scripts of flytekit this package takes over.
ENTRYPOINTS = ("pyflyte-execute", "pyflyte-fast-execute", "pyflyte-map-execute")
#: What flytekit's console scripts import; a script without it is someone else's.
FLYTEKIT_ENTRYPOINT_MODULE = b"flytekit.bin.entrypoint"
#: Set to 1 or true to keep flytekit's own entrypoint.
USE_FLYTEKIT = "PYFLYTE_EXECUTE_USE_FLYTEKIT"
#: The interpreter the binary runs the worker with.
PYTHON = "PYFLYTE_EXECUTE_PYTHON"
#: The oldest flytekit the binary runs tasks with.
SUPPORTED_FLYTEKIT_MIN = (1, 10, 0)
#: The first flytekit it no longer does (a new major is a new SDK).
SUPPORTED_FLYTEKIT_BELOW = (2, 0, 0)


#: Whether take_over has run in this process.
_decided = False


def flytekit_version():
    """The installed flytekit's version from its package metadata (flytekit itself is not
    imported: that is the console script's job), or None when it cannot be read."""
    try:
        from importlib.metadata import version

        return version("flytekit")
    except Exception:  # noqa: BLE001 - no metadata, or an old Python: the binary decides
        return None


def version_numbers(text):
    """The numbers a version starts with: "1.13.0b1" gives (1, 13, 0); None without any."""
    import re  # only when a version is read: the hook runs ahead of every task, so it imports little

    leading = re.match(r"\d+(?:\.\d+)*", text or "")
    return tuple(int(number) for number in leading.group().split(".")) if leading else None


def outside_supported_range(text):
    """Whether flytekit `text` is known to be outside the supported range (an unreadable
    version is not: the binary checks flytekit's internals itself)."""
    numbers = version_numbers(text)
    return numbers is not None and not (SUPPORTED_FLYTEKIT_MIN <= numbers < SUPPORTED_FLYTEKIT_BELOW)


def _dotted(numbers):
    return ".".join(str(number) for number in numbers)


def binary():
    """The path of the Rust binary shipped in this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyflyte-execute")


def take_over(argv):
    """Runs the Rust binary in place of flytekit's console script `argv[0]`; returns
    (and flytekit's entrypoint runs) only when it must not or cannot."""
    global _decided
    if _decided:
        # site reads this package's .pth once per site-packages path, and a venv can list
        # the same directory twice (lib and its lib64 link): decide, and say why, once.
        return
    _decided = True
    script = argv[0]
    if os.path.basename(script) not in ENTRYPOINTS:
        return
    if os.environ.get(USE_FLYTEKIT, "").lower() in ("1", "true"):
        return
    try:
        with open(script, "rb") as file:
            if FLYTEKIT_ENTRYPOINT_MODULE not in file.read(4096):
                return
    except OSError:
        return
    version = flytekit_version()
    if outside_supported_range(version):
        sys.stderr.write(
            "pyflyte-execute-rs: flytekit %s is outside the range pyflyte-execute runs (%s up to, "
            "not including, %s); running flytekit's own %s\n"
            % (version, _dotted(SUPPORTED_FLYTEKIT_MIN), _dotted(SUPPORTED_FLYTEKIT_BELOW), os.path.basename(script))
        )
        return
    try:
        run_binary(script, argv[1:])
    except OSError as error:
        # A binary that cannot run here (wrong architecture, noexec mount): flytekit's
        # entrypoint still can, so the task is not lost to a broken install.
        sys.stderr.write(
            "pyflyte-execute-rs: cannot run %s (%s); running flytekit's %s instead\n"
            % (binary(), error, os.path.basename(script))
        )


def run_binary(name, args):
    """Replaces this process with the binary, invoked as `name` (it answers to the name
    it is invoked as), the worker's interpreter defaulting to this one. Returns only by
    raising OSError."""
    if sys.executable and not os.environ.get(PYTHON):
        os.environ[PYTHON] = sys.executable
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary(), [name] + list(args))
