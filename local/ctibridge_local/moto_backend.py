"""moto's server in a child process: the local stand-in for DynamoDB, S3, SQS and Secrets Manager.

The child runs ``moto_server.py``: moto's own server without the costs that grow with its tables.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")


class MotoServer:
    """A moto server on its own process (its own core: it must not share the gateway's GIL)."""

    def __init__(self, host: str, port: int, log_path: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                raise RuntimeError(
                    f"port {self.port} is taken: is another local stack running? (--moto-port)"
                )
        except OSError:
            pass  # free, as it should be
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            # moto's server without its costs that grow with the table (see moto_server.py)
            [
                sys.executable,
                "-m",
                "ctibridge_local.moto_server",
                "-H",
                self.host,
                "-p",
                str(self.port),
            ],
            stdout=log,
            stderr=log,
            # Out of the terminal's process group: a Ctrl-C used to kill moto at once, and the stack's
            # queue pollers then spent ~12 s in botocore's connection retries before they stopped. The
            # stack stops moto itself, last.
            start_new_session=True,
        )
        wait_for_port(self.host, self.port)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
