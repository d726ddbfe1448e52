"""fsspec filesystems whose every operation the Rust supervisor performs.

The worker installs these for s3, s3a, gs, gcs, abfs, abfss and az before flytekit or
user code is imported, so that no byte of remote data moves through Python and s3fs,
gcsfs, adlfs and their SDKs are never imported. Each call becomes one request over a
Unix socket to the supervisor, which moves the bytes with its own transfer engine,
straight between object storage and local files. Data never crosses the socket: only
requests, paths and results do.

The protocol ("pyflyte-execute bridge", version 3) is described in docs/bridge.md.
Each thread has its own connection, so concurrent calls proceed concurrently; each
connection starts with a hello carrying the run's token, which the worker hands to
install() after taking it out of the environment.
"""

import errno
import json
import os
import posixpath
import shutil
import socket
import tempfile
import threading

from fsspec.spec import AbstractFileSystem

# The bridge protocol's version and names, listed once in the flyte-python crate's
# protocol.json, which tests/protocol_table.rs checks these against.
PROTOCOL_VERSION = 3
REQUESTS = ("hello", "stat", "list", "get_file", "put_file", "get_dir", "put_dir", "delete")
STAT_TYPES = ("file", "directory", "missing")
FAILURE_KINDS = ("not_found", "permission_denied", "not_a_directory", "invalid", "io")


class BridgeError(OSError):
    """A failure the supervisor reported that has no more specific Python exception."""


def _exception(error):
    """The natural Python exception for an error the supervisor reported."""
    kind, message, uri = error.get("kind"), error.get("message", ""), error.get("uri", "")
    if kind == "not_found":
        return FileNotFoundError(errno.ENOENT, message, uri)
    if kind == "permission_denied":
        return PermissionError(errno.EACCES, message, uri)
    if kind == "not_a_directory":
        return NotADirectoryError(errno.ENOTDIR, message, uri)
    if kind == "invalid":
        return ValueError(message)
    # The operating system's own error (ENAMETOOLONG, ENOSPC, ELOOP, ...) when the
    # supervisor's failure came from one, so Python names the real cause.
    code = error.get("errno") or errno.EIO
    return BridgeError(code, message, uri)


# How the supervisor's message starts when it cuts a connection off (docs/bridge.md).
_CLOSED = "the storage bridge closed this connection"


def _encodable(value):
    """`value` with every string made UTF-8 (a lone surrogate becomes its backslash
    escape): the supervisor reads strict JSON, so one undecodable byte in a file name
    would otherwise fail the request as unreadable instead of naming the path."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encodable(item) for item in value]
    return value


class _Client:
    """Requests to the supervisor; one connection per thread."""

    def __init__(self, path, token):
        self._path = path
        self._token = token
        self._local = threading.local()

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._path)
            connection = (sock, sock.makefile("r", encoding="utf-8"))
            self._local.connection = connection
            self._send(connection, {"op": "hello", "protocol": PROTOCOL_VERSION, "token": self._token})
        return connection

    def _send(self, connection, request):
        sock, reader = connection
        try:
            sock.sendall((json.dumps(_encodable(request)) + "\n").encode("utf-8"))
            line = reader.readline()
        except OSError:
            self._forget(connection)
            raise
        if not line:
            self._forget(connection)
            raise BridgeError(errno.EPIPE, "the pyflyte-execute supervisor closed the storage bridge")
        response = json.loads(line)
        if "error" in response:
            if request["op"] == "hello" or response["error"].get("message", "").startswith(_CLOSED):
                # Refused: the supervisor closes the connection after saying why.
                self._forget(connection)
            raise _exception(response["error"])
        return response["ok"]

    def _forget(self, connection):
        """Drops this thread's connection, which the supervisor closed, so that the next
        call opens a fresh one."""
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        connection[0].close()

    def call(self, op, **arguments):
        assert op in REQUESTS, op
        return self._send(self._connection(), {"op": op, **arguments})


_client = None


def _bridge():
    if _client is None:
        raise BridgeError(errno.ENOTCONN, "the pyflyte-execute storage bridge was not installed")
    return _client


class _BridgedFileSystem(AbstractFileSystem):
    """Object storage through the supervisor. Subclasses name their protocols; the first
    is the one the supervisor is given."""

    root_marker = ""
    # Constructor arguments (credentials, client_kwargs, asynchronous, loop, ...) are
    # accepted and ignored: the supervisor has its own configuration.
    cachable = True

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for protocol in cls.protocol:
            prefix = protocol + "://"
            if path.startswith(prefix):
                path = path[len(prefix):]
                break
        return path.rstrip("/")

    def _uri(self, path):
        return f"{self.protocol[0]}://{self._strip_protocol(path)}"

    # --- metadata -------------------------------------------------------------------

    def _objects(self, path):
        """Every object under path (as a directory), recursively: (name, size) pairs."""
        listed = _bridge().call("list", uri=self._uri(path))["objects"]
        base = self._strip_protocol(path)
        return [(f"{base}/{o['key']}", o["size"]) for o in listed]

    def info(self, path, **kwargs):
        name = self._strip_protocol(path)
        stat = _bridge().call("stat", uri=self._uri(path))
        if stat["type"] == "file":
            return {"name": name, "size": stat["size"], "type": "file"}
        if stat["type"] == "directory":
            return {"name": name, "size": 0, "type": "directory"}
        raise FileNotFoundError(errno.ENOENT, "no such object or prefix", self._uri(path))

    def ls(self, path, detail=True, **kwargs):
        base = self._strip_protocol(path)
        children = {}
        for name, size in self._objects(path):
            relative = name[len(base) + 1:]
            head, _, rest = relative.partition("/")
            child = f"{base}/{head}"
            if rest:
                children.setdefault(child, {"name": child, "size": 0, "type": "directory"})
            else:
                children[child] = {"name": child, "size": size, "type": "file"}
        if not children:
            info = self.info(path)  # a file lists as itself; nothing at all is not found
            children[info["name"]] = info
        entries = sorted(children.values(), key=lambda e: e["name"])
        return entries if detail else [e["name"] for e in entries]

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        base = self._strip_protocol(path)
        found = {}
        try:
            objects = self._objects(path)
        except FileNotFoundError:
            objects = []
        for name, size in objects:
            depth = name[len(base) + 1:].count("/") + 1
            if maxdepth is None or depth <= maxdepth:
                found[name] = {"name": name, "size": size, "type": "file"}
        if not found:
            try:
                info = self.info(path)
                if info["type"] == "file":
                    found[info["name"]] = info
            except FileNotFoundError:
                pass
        names = sorted(found)
        return {n: found[n] for n in names} if detail else names

    def exists(self, path, **kwargs):
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False

    def isdir(self, path):
        try:
            return self.info(path)["type"] == "directory"
        except FileNotFoundError:
            return False

    def isfile(self, path):
        try:
            return self.info(path)["type"] == "file"
        except FileNotFoundError:
            return False

    def size(self, path):
        return self.info(path)["size"]

    def mkdir(self, path, create_parents=True, **kwargs):
        pass  # object stores have no directories

    def makedirs(self, path, exist_ok=False):
        pass

    # --- transfers ------------------------------------------------------------------

    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs):
        if os.path.isdir(lpath):
            lpath = os.path.join(lpath, posixpath.basename(self._strip_protocol(rpath)))
        _bridge().call("get_file", uri=self._uri(rpath), path=os.path.abspath(lpath))

    def put_file(self, lpath, rpath, callback=None, **kwargs):
        if os.path.isdir(lpath):
            return  # fsspec's recursive put visits directories too; they hold nothing
        _bridge().call("put_file", path=os.path.abspath(lpath), uri=self._uri(rpath))

    def get(self, rpath, lpath, recursive=False, callback=None, **kwargs):
        if isinstance(rpath, list) or isinstance(lpath, list) or _has_magic(str(rpath)):
            return super().get(rpath, lpath, recursive=recursive, callback=callback, **kwargs)
        lpath = str(lpath)
        if recursive:
            # Listing first: a prefix with objects under it is a directory, whatever a
            # HEAD of its name answers (s3s-fs: 500), and it costs no request more.
            # "dir/" copies the contents; "dir" into an existing directory nests, as cp -r.
            target = lpath
            if not str(rpath).endswith("/") and os.path.isdir(lpath):
                target = os.path.join(lpath, posixpath.basename(self._strip_protocol(rpath)))
            try:
                _bridge().call("get_dir", uri=self._uri(rpath), path=os.path.abspath(target))
                return None
            except FileNotFoundError:
                pass  # nothing under it: a file, or nothing at all, which get_file says
        if lpath.endswith(os.sep):
            os.makedirs(lpath, exist_ok=True)
        self.get_file(rpath, lpath)
        return None

    def put(self, lpath, rpath, recursive=False, callback=None, **kwargs):
        if isinstance(lpath, list) or isinstance(rpath, list) or _has_magic(str(lpath)):
            return super().put(lpath, rpath, recursive=recursive, callback=callback, **kwargs)
        lpath = str(lpath)
        if os.path.isdir(lpath):
            if not recursive:
                raise IsADirectoryError(errno.EISDIR, "put of a directory needs recursive=True", lpath)
            if not lpath.endswith(os.sep) and self.isdir(rpath):
                rpath = f"{self._strip_protocol(rpath)}/{os.path.basename(lpath)}"
            _bridge().call("put_dir", path=os.path.abspath(lpath), uri=self._uri(rpath))
        else:
            if str(rpath).endswith("/"):
                rpath = f"{self._strip_protocol(rpath)}/{os.path.basename(lpath)}"
            self.put_file(lpath, rpath)
        return None

    def rm_file(self, path):
        _bridge().call("delete", uri=self._uri(path))

    def rm(self, path, recursive=False, maxdepth=None):
        paths = path if isinstance(path, list) else [path]
        for one in paths:
            if recursive and self.isdir(one):
                for name, _ in self._objects(one):
                    self.rm_file(name)
            else:
                self.rm_file(one)

    def cat_file(self, path, start=None, end=None, **kwargs):
        with self._open(path, "rb") as f:
            if start:
                f.seek(start if start >= 0 else max(f.seek(0, 2) + start, 0))
            return f.read() if end is None else f.read(max(end - (start or 0), 0))

    def pipe_file(self, path, value, **kwargs):
        with self._open(path, "wb") as f:
            f.write(value)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        if "r" in mode:
            return _DownloadedFile(self, path)
        if "a" in mode:
            raise NotImplementedError(f"append mode is not supported on {self._uri(path)}")
        return _UploadOnClose(self, path)


def _has_magic(path):
    return any(c in path for c in "*?[")


class _DownloadedFile:
    """A remote object read from a local copy the supervisor downloaded."""

    def __init__(self, fs, path):
        self._dir = tempfile.mkdtemp(prefix="pyflyte-bridge-")
        local = os.path.join(self._dir, "object")
        fs.get_file(path, local)
        self._file = open(local, "rb")

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __iter__(self):
        return iter(self._file)

    def close(self):
        if not self._file.closed:
            self._file.close()
            shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def closed(self):
        return self._file.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _UploadOnClose(_DownloadedFile):
    """A remote object written to a local file, uploaded by the supervisor on close."""

    def __init__(self, fs, path):  # noqa: super().__init__ would download
        self._fs, self._path = fs, path
        self._dir = tempfile.mkdtemp(prefix="pyflyte-bridge-")
        self._local = os.path.join(self._dir, "object")
        self._file = open(self._local, "wb")

    def close(self):
        if not self._file.closed:
            self._file.close()
            try:
                self._fs.put_file(self._local, self._path)
            finally:
                shutil.rmtree(self._dir, ignore_errors=True)

    def discard(self):
        """Drop what was written without uploading it."""
        self._file.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class S3FileSystem(_BridgedFileSystem):
    protocol = ("s3", "s3a")


class GCSFileSystem(_BridgedFileSystem):
    protocol = ("gs", "gcs")


class AzureBlobFileSystem(_BridgedFileSystem):
    protocol = ("abfs", "az")


class SecureAzureBlobFileSystem(_BridgedFileSystem):
    protocol = ("abfss",)


_IMPLEMENTATIONS = {
    "s3": S3FileSystem,
    "s3a": S3FileSystem,
    "gs": GCSFileSystem,
    "gcs": GCSFileSystem,
    "abfs": AzureBlobFileSystem,
    "az": AzureBlobFileSystem,
    "abfss": SecureAzureBlobFileSystem,
}


def install(socket_path, token):
    """Makes fsspec, and flytekit through it, use the bridge for every remote protocol,
    over the supervisor's socket at socket_path, saying hello with the run's token.

    flytekit resolves the class of s3/gs/abfs through fsspec's table of known
    implementations (and imports the module it names), so that table is pointed at this
    module: registering alone would still import s3fs, gcsfs and adlfs.
    """
    global _client
    _client = _Client(socket_path, token)
    from fsspec.registry import known_implementations, register_implementation

    for protocol, cls in _IMPLEMENTATIONS.items():
        known_implementations[protocol] = {"class": f"{__name__}.{cls.__name__}"}
        register_implementation(protocol, cls, clobber=True)
