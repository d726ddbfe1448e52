"""The Python half of pyflyte-execute: runs one flytekit task for the Rust supervisor.

The supervisor starts this script as soon as the process starts, so that importing
flytekit and the user's module overlaps with the download of inputs.pb. It then talks
to the supervisor over a Unix socket, one JSON object per line (the control protocol,
described in the flyte-python crate's src/control.rs; its names are listed once in
protocol.json, which both sides' tests check against COMMANDS and EVENTS below):

    worker -> supervisor  hello {protocol, token}             once, first on the connection
    supervisor -> worker  start {protocol, run settings}      once, first
    worker -> supervisor  loaded {ok, output_subdirectory}     task loaded (or its load error kept)
                          resolver_failed {error}              the resolver itself did not import
                          dry_run_passed                       --test: everything loaded, nothing run
                          flytekit_missing {interpreter, ...}  this interpreter has no flytekit
                          unsupported {component, found, ...}  this Python or flytekit cannot run tasks
    supervisor -> worker  run {inputs} | exit
    worker -> supervisor  finished {files, peak_rss_kib}       files written to the staging dir
                          fatal {error}                        this script itself failed

The task runs through flytekit's own entrypoint functions (setup_execution and
_dispatch_execute), so error classification, error documents and output literals are
flytekit's own. The only difference is where the metadata files go: a local staging
directory, which the supervisor then writes to the real output prefix.

The supervisor takes a connection as this worker's only if its first line is a hello
with the run's token, handed over in the environment and removed from it before any
task code runs. The task runs in this process and could write to the socket by mistake:
every event starts on a fresh line, so that whatever was written before it without a
newline ends there, as a line the supervisor logs and skips (see docs/bridge.md).

Anything this script cannot report (a segfault, os._exit, SIGKILL) the supervisor
notices from the exit status and reports itself.

Once it is done, the worker leaves as Python's own exit would, less the interpreter's
teardown (see leave()): the supervisor waits for the worker to be gone before it exits,
and tearing down flytekit, pandas and numpy object by object took longer than the task.
"""

import atexit
import faulthandler
import importlib.util
import json
import os
import re
import resource
import signal
import socket
import sys
import threading
import traceback

SOCKET_ENV = "PYFLYTE_EXECUTE_WORKER_SOCKET"
BRIDGE_SOCKET_ENV = "PYFLYTE_EXECUTE_BRIDGE_SOCKET"
TOKEN_ENV = "PYFLYTE_EXECUTE_CHANNEL_TOKEN"
SUPERVISOR_PID_ENV = "PYFLYTE_EXECUTE_SUPERVISOR_PID"
PROTOCOL_VERSION = 3
COMMANDS = ("start", "run", "exit")
EVENTS = (
    "hello",
    "loaded",
    "resolver_failed",
    "dry_run_passed",
    "finished",
    "flytekit_missing",
    "unsupported",
    "fatal",
)
# How many characters of an exception's trace, and of its message, are sent (head and
# tail kept): twice what an error document carries, and within the supervisor's bound
# on an event line even when every character needs a JSON escape.
MAX_ERROR_TEXT_CHARS = 1024 * 1024


class Channel:
    """Line-delimited JSON over the supervisor's socket."""

    def __init__(self, path, token):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._reader = self._sock.makefile("r", encoding="utf-8")
        self._write({"event": "hello", "protocol": PROTOCOL_VERSION, "token": token})

    def send(self, event, **fields):
        assert event in EVENTS, event
        # The leading newline ends anything the task wrote to this socket without one,
        # which the supervisor then skips, so that it cannot swallow this event.
        self._write({"event": event, **fields}, fresh_line=True)

    def _write(self, message, fresh_line=False):
        # encodable(): a lone surrogate becomes its escape, so the message still goes.
        data = ("\n" if fresh_line else "") + json.dumps(encodable(message)) + "\n"
        self._sock.sendall(data.encode("utf-8"))

    def receive(self):
        """The next command; "exit" when the supervisor closed the channel without one."""
        line = self._reader.readline()
        if not line:
            # The supervisor is gone or has nothing more for us: nobody is left to report to.
            return {"command": "exit"}
        command = json.loads(line)
        assert command.get("command") in COMMANDS, command
        return command


def encodable(value):
    """`value` with every string made UTF-8: a lone surrogate (a task's `"\\udc80"`, an
    undecodable byte in a file name) becomes its backslash escape, as Python prints it,
    instead of failing the whole message and losing the error it carried."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(item) for item in value]
    return value


def describe(exc):
    """A traceback and a one-line summary of an exception, for the supervisor's error document."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {
        "trace": _cut(trace),
        "error_type": type(exc).__name__,
        "error_message": _cut(str(exc)),
    }


def _cut(text):
    """text, or its head and tail with a note of how much was cut between them when it
    is longer than MAX_ERROR_TEXT_CHARS (a dataframe printed into an exception)."""
    if len(text) <= MAX_ERROR_TEXT_CHARS:
        return text
    keep = MAX_ERROR_TEXT_CHARS // 2
    cut = len(text) - 2 * keep
    return f"{text[:keep]}\n… {cut} characters cut by pyflyte-execute's worker …\n{text[-keep:]}"


def install_storage_bridge(path, bridge_socket, token):
    spec = importlib.util.spec_from_file_location("pyflyte_execute_bridge", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.install(bridge_socket, token)


def die_with_supervisor():
    """Asks the kernel to SIGKILL this process when the supervisor dies, so that a worker
    never outlives the supervisor that would report on it (Linux's parent-death signal)."""
    supervisor = int(os.environ.pop(SUPERVISOR_PID_ENV, "0") or 0)
    try:
        import ctypes  # flytekit imports it anyway

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # not Linux: nothing to ask for
    if supervisor and os.getppid() != supervisor:
        # The supervisor died before the request took effect: nobody is left to report to.
        os._exit(3)


def main():
    # Out of the environment before anything else runs, so that the task and the
    # processes it starts do not come upon the supervisor's sockets or the token.
    token = os.environ.pop(TOKEN_ENV, "")
    bridge_socket = os.environ.pop(BRIDGE_SOCKET_ENV, "")
    die_with_supervisor()
    channel = Channel(os.environ.pop(SOCKET_ENV), token)
    try:
        run(channel, bridge_socket, token)
    except SystemExit:
        # The task's own sys.exit: the worker ends with its status, as flytekit's process
        # would, and the supervisor reports the early exit like any other.
        raise
    except BaseException as exc:  # noqa: BLE001 - everything must reach the supervisor
        channel.send("fatal", **describe(exc))
        raise


def run(channel, bridge_socket, token):
    # A crash in native code prints the Python stack to stderr, which the supervisor
    # keeps the tail of for the error document.
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _note_sigint)

    settings = channel.receive()
    if settings["command"] != "start":
        return
    if settings.get("protocol") != PROTOCOL_VERSION:
        raise RuntimeError(
            f"the supervisor speaks control protocol {settings.get('protocol')}, this worker script "
            f"speaks {PROTOCOL_VERSION}: the worker script and the binary come from different builds"
        )

    supported = settings["supported"]
    # The interpreter first: a flytekit that imports on a Python it does not support
    # fails in ways that say nothing about the interpreter.
    if not _in_range(tuple(sys.version_info[:3]), supported["python"]):
        channel.send(
            "unsupported", component="python", found="%d.%d.%d" % sys.version_info[:3], location=sys.executable
        )
        return

    # Looked up, not imported: the storage bridge must be in place before flytekit loads.
    spec = importlib.util.find_spec("flytekit")
    if spec is None:
        channel.send("flytekit_missing", interpreter=sys.executable, error_message="No module named 'flytekit'")
        return
    flytekit_version = _installed_version("flytekit")
    flytekit_location = (list(spec.submodule_search_locations or []) or [spec.origin])[0]
    version_numbers = _version_numbers(flytekit_version)
    if version_numbers is not None and not _in_range(version_numbers, supported["flytekit"]):
        channel.send("unsupported", component="flytekit", found=flytekit_version, location=flytekit_location)
        return

    # Remote storage goes through the supervisor: installed before flytekit or user code
    # can create a filesystem, so s3fs, gcsfs and adlfs are never imported.
    install_storage_bridge(settings["bridge_module"], bridge_socket, token)

    # Imported after the socket is up so that an import failure is reported, not just printed.
    try:
        from flytekit.bin import entrypoint as flytekit_entrypoint
        from flytekit.tools.module_loader import load_object_from_module
    except Exception as exc:  # noqa: BLE001 - a broken install, whatever it raises
        channel.send(
            "unsupported",
            component="flytekit_import",
            found=flytekit_version,
            location=flytekit_location,
            detail="%s: %s" % (type(exc).__name__, exc),
        )
        return
    try:
        flytekit_api = FlytekitEntrypoint(flytekit_entrypoint)
    except UnrecognisedFlytekit as exc:
        channel.send(
            "unsupported", component="flytekit", found=flytekit_version, location=flytekit_location, detail=str(exc)
        )
        return

    map_task = settings["map_task"]
    with flytekit_api.setup_execution(settings, map_task is not None) as ctx:
        # As flytekit 1.13 and later do: the working directory is importable, after
        # everything else (before 1.13 only what PYTHONPATH names is).
        working_dir = os.getcwd()
        if flytekit_api.imports_from_working_dir and all(os.path.realpath(p) != working_dir for p in sys.path):
            sys.path.append(working_dir)

        output_subdirectory = None
        try:
            if map_task is not None:
                # As flytekit's map entrypoint: the resolver is a class, the array index
                # comes from the batch environment, and the legacy resolver writes under
                # <output prefix>/<index>, which the supervisor is told as data.
                task_index = flytekit_entrypoint._compute_array_job_index()
                resolver_class, legacy = flytekit_api.map_resolver(map_task, settings["resolver"])
                resolver = resolver_class()
                if legacy is None:
                    legacy = resolver.name() == "flytekit.core.legacy_map_task.MapTaskResolver"
                if legacy:
                    output_subdirectory = str(task_index)
            else:
                resolver = load_object_from_module(settings["resolver"])
        except Exception as exc:  # noqa: BLE001
            channel.send("resolver_failed", **describe(exc))
            return

        if settings["dry_run"]:
            channel.send("dry_run_passed")
            return

        # Load the task now, while the supervisor downloads the inputs. A load error is
        # kept and raised again inside flytekit's _dispatch_execute, which classifies it
        # exactly as it would have had it loaded the task itself.
        try:
            if map_task is None:
                task = resolver.load_task(loader_args=settings["resolver_args"])
            elif _takes(resolver.load_task, "max_concurrency"):
                task = resolver.load_task(
                    loader_args=settings["resolver_args"], max_concurrency=map_task["max_concurrency"]
                )
            else:
                task = resolver.load_task(loader_args=settings["resolver_args"])
            load_error = None
        except Exception as exc:  # noqa: BLE001
            # Without this function's frame, the trace flytekit formats from it reads as
            # flytekit's own: _dispatch_execute, load_task, then the resolver's frames.
            task, load_error = None, exc.with_traceback(exc.__traceback__.tb_next or exc.__traceback__)
        if load_error is not None and not flytekit_api.dispatch_loads_the_task:
            # A flytekit whose _dispatch_execute takes the loaded task (before 1.13) loads
            # it outside any error handling: its process dies with the traceback and writes
            # nothing. Ours reports it as a task that could not be loaded.
            channel.send("resolver_failed", **describe(load_error))
            return
        channel.send("loaded", ok=load_error is None, output_subdirectory=output_subdirectory)

        def load_task():
            if load_error is not None:
                raise load_error
            return task

        command = channel.receive()
        if command["command"] != "run":
            return

        staging_dir = settings["staging_dir"]
        try:
            flytekit_api.dispatch_execute(ctx, load_task, command["inputs"], staging_dir, map_task is not None)
        except SystemExit:
            # FLYTE_FAIL_ON_ERROR: flytekit exits after writing the error file; the
            # supervisor applies that policy itself after uploading it. A SystemExit with
            # no error file is the task's own sys.exit (flytekit catches only Exception),
            # which ends the worker.
            if not any(name.startswith("error") and name.endswith(".pb") for name in _staged(staging_dir)):
                raise
        except BaseException as exc:  # noqa: BLE001 - classified below, or raised on
            if not write_what_flytekit_could_not(exc, staging_dir):
                raise
        files = _staged(staging_dir)
        # Its own peak memory, which the supervisor cannot see from outside once it exits.
        peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        channel.send("finished", files=files, peak_rss_kib=peak_rss_kib)


# Whether a SIGINT reached the worker: a KeyboardInterrupt it raises is a stop signal,
# not the task's own error.
_interrupted = False


def _note_sigint(signum, frame):
    global _interrupted
    _interrupted = True
    signal.default_int_handler(signum, frame)


def write_what_flytekit_could_not(exc, staging_dir):
    """Writes the error document flytekit's _dispatch_execute would have written for `exc`,
    which escaped it; says whether it did.

    Two escapes: a BaseException that is not an Exception (KeyboardInterrupt, GeneratorExit,
    a task's own `class Boom(BaseException)`) raised by the task's function, which flytekit
    lets through because its user scope catches Exception only: written as that scope
    would have had it caught it (USER, non-recoverable, the trace from the scope down).
    And a UnicodeEncodeError from encoding the document itself (a lone surrogate in the
    message, where flytekit's own pyflyte-execute crashes and writes nothing): the
    document it was writing, with the surrogate escaped. SystemExit (the task's
    own sys.exit) and everything else are left to the supervisor, as before."""
    try:
        from flytekit.bin import entrypoint as fe
        from flytekit.exceptions.user import FlyteUserRuntimeException
        from flytekit.models.core import errors as error_models
        from flytekit.models.core import execution as execution_models

        container_error = error_models.ContainerError
        user_raised = None if isinstance(exc, (Exception, SystemExit)) else _raised_by_task(exc)
        if user_raised is not None:
            failure = FlyteUserRuntimeException(user_raised)
            failure.__cause__ = user_raised
            message = fe.get_traceback_str(failure)
            file_name = fe._build_error_file_name()
            error = container_error(
                code=failure.error_code,
                message=message,
                kind=container_error.Kind.NON_RECOVERABLE,
                origin=execution_models.ExecutionError.ErrorKind.USER,
                timestamp=fe.get_container_error_timestamp(user_raised),
                worker=fe._get_worker_name(),
            )
        elif isinstance(exc, UnicodeEncodeError):
            unwritten = _error_document_being_written(exc, container_error)
            if unwritten is None:
                return False
            file_name, error = unwritten
            file_name = file_name or fe._build_error_file_name()
        else:
            return False
        document = error_models.ErrorDocument(
            container_error(
                code=encodable(error.code),
                message=encodable(error.message),
                kind=error.kind,
                origin=error.origin,
                timestamp=error.timestamp,
                worker=encodable(error.worker),
            )
        )
        os.makedirs(staging_dir, exist_ok=True)
        fe.utils.write_proto_to_file(document.to_flyte_idl(), os.path.join(staging_dir, file_name))
    except Exception:  # noqa: BLE001 - this flytekit lacks a piece: the supervisor reports exc
        return False
    if user_raised is not None:
        fe.logger.error("!! Begin User Error Captured by Flyte !!")
        fe.logger.error(encodable(message))
        fe.logger.error("!! End Error Captured by Flyte !!")
    return True


def _raised_by_task(exc):
    """`exc` with its trace from flytekit's user scope (PythonTask.dispatch_execute calling
    the task's execute) down, if the task's code raised it; None otherwise (flytekit's own
    code, or a KeyboardInterrupt from a SIGINT passed on by the supervisor)."""
    if isinstance(exc, KeyboardInterrupt) and _interrupted:
        return None
    scope = os.path.join("flytekit", "core", "base_task.py")
    entry = exc.__traceback__
    while entry is not None and entry.tb_next is not None:
        code = entry.tb_frame.f_code
        if (
            code.co_name == "dispatch_execute"
            and code.co_filename.endswith(scope)
            and entry.tb_next.tb_frame.f_code.co_name == "execute"
        ):
            return exc.with_traceback(entry)
        entry = entry.tb_next
    return None


def _error_document_being_written(exc, container_error):
    """The file name and the ContainerError flytekit's _dispatch_execute was writing when
    encoding it raised `exc`, read from the frames `exc` passed through; None when `exc`
    came from somewhere else."""
    error, file_name = None, None
    entry = exc.__traceback__
    while entry is not None:
        frame = entry.tb_frame
        if frame.f_code.co_name == "_dispatch_execute" and isinstance(frame.f_locals.get("k"), str):
            file_name = frame.f_locals["k"]
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, container_error):
            error = candidate
        entry = entry.tb_next
    return None if error is None else (file_name, error)


# What the run settings call each argument flytekit's setup_execution takes, by the
# parameter's name there.
SETUP_ARGUMENTS = {
    "raw_output_data_prefix": "raw_output_data_prefix",
    "output_metadata_prefix": "output_prefix",
    "checkpoint_path": "checkpoint_path",
    "prev_checkpoint": "prev_checkpoint",
    "dynamic_addl_distro": "dynamic_addl_distro",
    "dynamic_dest_dir": "dynamic_dest_dir",
}
# The same values by the names flytekit's own map entrypoint gives them.
MAP_ENTRYPOINT_NAMES = {
    "raw_output_data_prefix": "raw_output_data_prefix",
    "output_prefix": "output_prefix",
    "checkpoint_path": "checkpoint_path",
    "prev_checkpoint": "prev_checkpoint",
    "dynamic_addl_distro": "dynamic_addl_distro",
    "dynamic_dest_dir": "dynamic_dest_dir",
}


class UnrecognisedFlytekit(Exception):
    """flytekit's entrypoint functions are not ones this worker knows how to call."""


class FlytekitEntrypoint:
    """How this flytekit's entrypoint functions are called, found by looking at them
    rather than at the version string: what changed between 1.10 and 1.16 is the
    signature of _dispatch_execute (the loaded task, then from 1.13 a function loading
    it and is_map_task), the map entrypoint's --experimental flag (1.10 and 1.11) and
    the arguments that entrypoint hands setup_execution (before 1.13, shifted by one)."""

    def __init__(self, module):
        missing = [
            name
            for name in ("setup_execution", "_dispatch_execute", "_compute_array_job_index")
            if not callable(getattr(module, name, None))
        ]
        if missing:
            raise UnrecognisedFlytekit("flytekit.bin.entrypoint has no %s" % ", ".join(missing))
        self._module = module

        setup = _parameters(module.setup_execution)
        if setup is None or any(p.name not in SETUP_ARGUMENTS and _required(p) for p in setup):
            raise UnrecognisedFlytekit("setup_execution takes %s" % _listed(setup))
        self._setup_names = [p.name for p in setup if p.name in SETUP_ARGUMENTS]

        dispatch = _parameters(module._dispatch_execute)
        names = [p.name for p in dispatch or []]
        if len(names) < 4 or names[1] not in ("load_task", "task_def"):
            raise UnrecognisedFlytekit("_dispatch_execute takes %s" % _listed(dispatch))
        if any(_required(p) for p in dispatch[4:] if p.name != "is_map_task"):
            raise UnrecognisedFlytekit("_dispatch_execute takes %s" % _listed(dispatch))
        #: From 1.13 flytekit loads the task inside _dispatch_execute, and so reports a
        #: task that fails to load in an error document.
        self.dispatch_loads_the_task = names[1] == "load_task"
        self._dispatch_takes_is_map_task = "is_map_task" in names

        #: flytekit before 1.13 runs the task inside its entrypoint's system scope
        #: (flytekit.exceptions.scopes): the outermost scope is what hands a user error
        #: on as USER, not as an unknown SYSTEM error.
        execute_task = getattr(module, "_execute_task", None)
        self._scoped = execute_task is not None and _unwrapped(execute_task) is not execute_task
        #: flytekit 1.13 and later append the working directory to sys.path.
        self.imports_from_working_dir = _mentions(getattr(module, "_execute_task", None), "sys.path.append")

        map_entrypoint = getattr(module, "_execute_map_task", None)
        self._map_takes_experimental = map_entrypoint is not None and _takes(map_entrypoint, "experimental")
        self._map_entrypoint = map_entrypoint

    def setup_execution(self, settings, is_map_task):
        """flytekit's setup_execution context, called as that flytekit's own entrypoint
        calls it for this kind of task."""
        # Read only for map tasks: parsing the map entrypoint's source costs start-up time.
        map_arguments = _setup_call_arguments(self._map_entrypoint) if is_map_task else None
        if map_arguments is not None:
            # flytekit 1.10 to 1.12's map entrypoint leaves out the output prefix, so every
            # later argument lands one place early (the checkpoint path becomes the output
            # metadata prefix, where decks go): that version's behaviour is the spec.
            return self._module.setup_execution(*(settings[MAP_ENTRYPOINT_NAMES[name]] for name in map_arguments))
        return self._module.setup_execution(**{name: settings[SETUP_ARGUMENTS[name]] for name in self._setup_names})

    def map_resolver(self, map_task, resolver_name):
        """The map task resolver class, and whether it writes under <prefix>/<index>
        (None: ask the resolver its name, as flytekit 1.12 and later do)."""
        if self._map_takes_experimental:
            # flytekit 1.10 and 1.11 pick the resolver by --experimental, not by --resolver.
            if map_task.get("experimental"):
                return self._module.ArrayNodeMapTaskResolver, False
            return self._module.MapTaskResolver, True
        from flytekit.tools.module_loader import load_object_from_module

        return load_object_from_module(resolver_name), None

    def dispatch_execute(self, ctx, load_task, inputs, output_prefix, is_map_task):
        """flytekit's _dispatch_execute with what this version takes, in the scope this
        version's entrypoint calls it in."""
        dispatch = self._module._dispatch_execute
        if self._scoped:
            from flytekit.exceptions import scopes

            dispatch = scopes.system_entry_point(dispatch)
        if not self.dispatch_loads_the_task:
            return dispatch(ctx, load_task(), inputs, output_prefix)
        if self._dispatch_takes_is_map_task:
            return dispatch(ctx, load_task, inputs, output_prefix, is_map_task=is_map_task)
        return dispatch(ctx, load_task, inputs, output_prefix)


def _parameters(function):
    """The parameters of `function` (through functools.wraps decorators), or None."""
    import inspect

    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None


def _required(parameter):
    return parameter.default is parameter.empty and parameter.kind in (
        parameter.POSITIONAL_ONLY,
        parameter.POSITIONAL_OR_KEYWORD,
        parameter.KEYWORD_ONLY,
    )


def _takes(function, name):
    return any(p.name == name for p in _parameters(function) or [])


def _listed(parameters):
    return "(%s)" % ", ".join(p.name for p in parameters) if parameters is not None else "no readable parameters"


def _unwrapped(function):
    import inspect

    try:
        return inspect.unwrap(function)
    except ValueError:  # a cycle of __wrapped__: treat as undecorated
        return function


def _source(function):
    """The source of `function` (through decorators), or None."""
    import inspect

    try:
        return inspect.getsource(inspect.unwrap(function))
    except (OSError, TypeError):
        return None


def _mentions(function, text):
    return function is not None and text in (_source(function) or "")


def _setup_call_arguments(function):
    """The names `function` passes positionally to setup_execution, when that is all it
    passes and each is one of MAP_ENTRYPOINT_NAMES; otherwise None (call it by keyword)."""
    import ast
    import textwrap

    source = _source(function) if function is not None else None
    try:
        tree = ast.parse(textwrap.dedent(source)) if source is not None else None
    except SyntaxError:
        tree = None
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup_execution":
            names = [arg.id if isinstance(arg, ast.Name) else None for arg in node.args]
            if node.keywords or not all(name in MAP_ENTRYPOINT_NAMES for name in names):
                return None
            return names
    return None


def _installed_version(distribution):
    """The installed distribution's version, read from its metadata without importing
    it; None when it has none (e.g. a source checkout on PYTHONPATH)."""
    try:
        from importlib.metadata import version

        return version(distribution)
    except Exception:  # noqa: BLE001 - no metadata, or none readable: version unknown
        return None


def _version_numbers(version):
    """The numbers a version starts with ("1.13.0b1" gives (1, 13, 0)); None without any."""
    leading = re.match(r"\d+(?:\.\d+)*", version or "")
    return tuple(int(number) for number in leading.group().split(".")) if leading else None


def _in_range(numbers, supported):
    return tuple(supported["min"]) <= tuple(numbers) < tuple(supported["below"])


def _staged(staging_dir):
    return sorted(os.listdir(staging_dir)) if os.path.isdir(staging_dir) else []


def leave():
    """Ends the worker with status 0 after doing what Python's exit does that anyone can
    see: waits for the task's non-daemon threads, runs the atexit handlers (logging's
    flush, weakref finalizers, the task's own) and flushes stdout and stderr. What it
    skips is the interpreter's teardown, freeing every module and object one by one,
    which nothing observes and which took 0.5-0.8 s after a trivial task.

    Only after a normal return: a SystemExit or an exception leaves the normal way, with
    its status and traceback."""
    # CPython's own finalization calls threading._shutdown to join the non-daemon
    # threads, so it is there in every version that has this module.
    threading._shutdown()
    atexit._run_exitfuncs()  # prints a failing handler's traceback and goes on, as at exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or a broken pipe: nothing more can be written there anyway
    # What native code printed through C's stdio, buffered when stdout is a pipe or a
    # file, which exit() would flush and os._exit does not.
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
    os._exit(0)


if __name__ == "__main__":
    # This script's own directory must not shadow the user's modules.
    if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
        del sys.path[0]
    main()
    leave()
