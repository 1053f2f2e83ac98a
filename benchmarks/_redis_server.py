"""Start a throwaway ``redis-server`` on a free loopback port, and always stop it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

HOST = "127.0.0.1"


class ServerUnavailable(RuntimeError):
    """No redis-server binary, or it would not start."""


@dataclass(frozen=True)
class RedisServer:
    binary: str
    port: int
    pid: int
    version: str

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"


def find_server_binary() -> str | None:
    return os.environ.get("AIOKV_REDIS_SERVER") or shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _command(sock: socket.socket, *parts: str) -> bytes:
    payload = f"*{len(parts)}\r\n".encode()
    for part in parts:
        data = part.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    sock.sendall(payload)
    reply = b""
    while b"\r\n" not in reply:
        chunk = sock.recv(65536)
        if not chunk:
            return reply
        reply += chunk
    if reply.startswith(b"$"):  # bulk string: read the announced length plus CRLF
        header, _, body = reply.partition(b"\r\n")
        wanted = int(header[1:]) + 2
        while len(body) < wanted:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return body[: max(0, wanted - 2)]
    return reply


def _ping(port: int) -> str | None:
    """The server's version if it answers PING on ``port``, else None."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            if not _command(sock, "PING").startswith(b"+PONG"):
                return None
            info = _command(sock, "INFO", "server").decode(errors="replace")
    except OSError:
        return None
    for line in info.splitlines():
        if line.startswith(("redis_version:", "valkey_version:")):
            return line.split(":", 1)[1].strip()
    return "?"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def redis_server(attempts: int = 3, start_timeout: float = 10.0) -> Iterator[RedisServer]:
    binary = find_server_binary()
    if binary is None:
        raise ServerUnavailable("no redis-server on PATH and $AIOKV_REDIS_SERVER is not set")
    with tempfile.TemporaryDirectory(prefix="aiokv-bench-redis-") as workdir:
        last_error = "did not start"
        for _ in range(attempts):
            port = _free_port()
            proc = subprocess.Popen(
                [
                    binary,
                    "--port", str(port),
                    "--bind", HOST,
                    "--save", "",
                    "--appendonly", "no",
                    "--daemonize", "no",
                    "--dir", workdir,
                    "--logfile", "",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                version = None
                deadline = time.monotonic() + start_timeout
                while time.monotonic() < deadline and proc.poll() is None:
                    version = _ping(port)
                    if version is not None:
                        break
                    time.sleep(0.05)
                if version is None:
                    stderr = b""
                    if proc.poll() is not None and proc.stderr is not None:
                        stderr = proc.stderr.read()
                    last_error = stderr.decode(errors="replace").strip() or "no PONG"
                    continue  # the finally below stops it; try another port
                yield RedisServer(binary, port, proc.pid, version)
                return
            finally:
                _stop(proc)
                if proc.stderr is not None:
                    proc.stderr.close()
        raise ServerUnavailable(f"{binary} would not start: {last_error}")
