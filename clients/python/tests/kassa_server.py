"""Runs a real `kassa serve` on loopback ports for end-to-end tests.

The binary is `$KASSA_BIN` (run-tests.sh sets it). Every wait is bounded; `stop()` always ends
the process (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, List, Optional, Tuple

ADMIN_KEY = "test-admin-key-0123456789"
START_TIMEOUT_S = 30.0


def kassa_bin() -> Optional[str]:
    """The server binary from KASSA_BIN, or None when it is not set or does not exist."""
    path = os.environ.get("KASSA_BIN", "")
    return path if path and os.access(path, os.X_OK) else None


def free_ports(count: int) -> List[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class KassaServer:
    """One `kassa serve` process with its data directory and ports (kept across restarts)."""

    def __init__(self, binary: str, *extra_args: str) -> None:
        self.binary = binary
        self.extra_args = list(extra_args)
        self.root = tempfile.mkdtemp(prefix="kassa-client-test-")
        os.chmod(self.root, 0o700)
        self.data_dir = os.path.join(self.root, "data")
        self.http_port, self.tcp_port, self.iso_port = free_ports(3)
        self.process: Optional[subprocess.Popen] = None
        self._log = open(os.path.join(self.root, "server.log"), "ab")

    def start(self) -> None:
        """Starts the server and waits until GET /ready answers 200 (the engine is open)."""
        command = [
            self.binary, "serve",
            "--data-dir", self.data_dir,
            "--admin-key", ADMIN_KEY,
            "--http", f"127.0.0.1:{self.http_port}",
            "--tcp", f"127.0.0.1:{self.tcp_port}",
            "--iso8583", f"127.0.0.1:{self.iso_port}",
            "--ids-max", "1048576",
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kassa exited with {self.process.returncode}; log: {self.log_tail()}")
            if self._healthy():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"kassa did not become healthy in {START_TIMEOUT_S} s; log: {self.log_tail()}")

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets but answers nothing (until killed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self) -> None:
        self.stop()
        self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self) -> str:
        self._log.flush()
        with open(os.path.join(self.root, "server.log"), "rb") as log:
            return log.read()[-2000:].decode(errors="replace")

    def _healthy(self) -> bool:
        try:
            return self.http("GET", "/ready", key=None)[0] == 200
        except OSError:
            return False

    def http(self, method: str, path: str, body: Any = None, key: Optional[str] = ADMIN_KEY) -> Tuple[int, Any]:
        """One HTTP/JSON call; returns (status, decoded JSON or text)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method)
        request.add_header("content-type", "application/json")
        if key is not None:
            request.add_header("authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, _decoded(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _decoded(error.read())

    def balance(self, account: str) -> int:
        status, answer = self.http("GET", f"/v1/accounts/{account}")
        if status != 200:
            raise AssertionError(f"GET /v1/accounts/{account} -> {status} {answer}")
        return answer["balance"]


def _decoded(data: bytes) -> Any:
    text = data.decode(errors="replace")
    return json.loads(text) if text.startswith("{") else text
