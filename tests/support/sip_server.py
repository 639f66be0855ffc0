"""Kamailio and sipp on loopback for the webphone's real SIP tests (Debian's kamailio + sip-tester).

``start_kamailio`` runs tests/support/kamailio/kamailio.cfg with free ports: UDP for sipp, TCP for the
page's SIP over WebSocket, and the port of a sipp UAS standing in for the PSTN. ``start_sipp`` runs one
scenario of tests/support/sipp/ with its messages traced to a file the test can read. A missing binary
raises (the browser tests fail, they never skip).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ctibridge_local.sip.server import free_udp_and_tcp_port
from tests.support.ports import free_port

HERE = Path(__file__).resolve().parent
KAMAILIO_CFG = HERE / "kamailio" / "kamailio.cfg"
SIPP_SCENARIOS = HERE / "sipp"
KAMAILIO_MODULE_DIRS = [
    Path("/usr/lib/x86_64-linux-gnu/kamailio/modules"),
    Path("/usr/lib/aarch64-linux-gnu/kamailio/modules"),
    Path("/usr/lib/kamailio/modules"),
]
HOST = "127.0.0.1"


def need(binary: str, package: str) -> str:
    path = shutil.which(binary) or next(
        (str(p) for p in (Path("/usr/sbin") / binary, Path("/usr/bin") / binary) if p.exists()), None
    )
    if path is None:
        raise RuntimeError(f"{binary} is not installed: apt-get install {package}")
    return path


def free_udp_port() -> int:
    """A port free for UDP and TCP on loopback (SIP listens on both)."""
    return free_udp_and_tcp_port(HOST)


def _modules_dir() -> Path:
    for candidate in KAMAILIO_MODULE_DIRS:
        if (candidate / "websocket.so").exists():
            return candidate
    raise RuntimeError("Kamailio's websocket module is missing: apt-get install kamailio-websocket-modules")


@dataclass
class Kamailio:
    process: subprocess.Popen[bytes]
    udp_port: int
    ws_port: int
    pstn_port: int
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.ws_port}"

    @property
    def sip_server(self) -> str:
        return HOST

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_kamailio(workdir: Path, timeout: float = 15) -> Kamailio:
    binary = need("kamailio", "kamailio kamailio-websocket-modules")
    workdir.mkdir(parents=True, exist_ok=True)
    udp_port, ws_port, pstn_port = free_udp_port(), free_port(), free_udp_port()
    config = (
        KAMAILIO_CFG.read_text()
        .replace("__UDP_PORT__", str(udp_port))
        .replace("__WS_PORT__", str(ws_port))
        .replace("__PSTN_PORT__", str(pstn_port))
        .replace("__MODULES__", str(_modules_dir()))
    )
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(config)
    log_path = workdir / "kamailio.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed when the process ends
    process = subprocess.Popen(
        [binary, "-f", str(cfg), "-DD", "-E", "-Y", str(workdir), "-m", "64", "-M", "8"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kamailio exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with socket.create_connection((HOST, ws_port), timeout=0.2):
                return Kamailio(process, udp_port, ws_port, pstn_port, log_path)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"kamailio not listening after {timeout} s:\n{log_path.read_text()}")


@dataclass
class Sipp:
    process: subprocess.Popen[bytes]
    messages_path: Path
    screen_path: Path
    errors_path: Path
    args: list[str] = field(default_factory=list)

    def messages(self) -> str:
        return self.messages_path.read_text(errors="replace") if self.messages_path.exists() else ""

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def report(self) -> str:
        parts = [f"sipp {' '.join(self.args)} -> {self.process.poll()}"]
        for path in (self.errors_path, self.messages_path):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


def start_sipp(
    scenario: str,
    workdir: Path,
    *,
    remote: str | None = None,
    service: str | None = None,
    local_port: int | None = None,
    keys: dict[str, str] | None = None,
    timeout_s: int = 60,
) -> Sipp:
    """Run tests/support/sipp/<scenario>.xml once (``-m 1``) from ``local_port`` (UDP)."""
    binary = need("sipp", "sip-tester")
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"{scenario}-{time.monotonic_ns()}"
    messages, screen, errors = (
        workdir / f"{name}.{kind}" for kind in ("messages.log", "screen.log", "errors.log")
    )
    args = [
        "-sf", str(SIPP_SCENARIOS / f"{scenario}.xml"),
        "-i", HOST,
        "-mi", HOST,
        "-p", str(local_port or free_udp_port()),
        "-mp", str(free_udp_port()),
        "-m", "1",
        "-l", "1",
        "-timeout", f"{timeout_s}s",
        "-timeout_error",
        "-nostdin",
        "-trace_msg", "-message_file", str(messages),
        "-trace_err", "-error_file", str(errors),
    ]  # fmt: skip
    if service:
        args += ["-s", service]
    for key, value in (keys or {}).items():
        args += ["-key", key, value]
    if remote:
        args.append(remote)
    screen_file = open(screen, "wb")  # noqa: SIM115 - closed when the process ends
    process = subprocess.Popen([binary, *args], stdout=screen_file, stderr=subprocess.STDOUT, cwd=workdir)
    return Sipp(process, messages, screen, errors, args)
