"""The local stack's SIP side: Kamailio (registrar + proxy, SIP over WebSocket for the webphone),
rtpengine (WebRTC ⇄ plain RTP media), the simulated customers' phone (baresip, answers) and the busy
customer's phone (baresip, rejects every call: 486), on free loopback ports.

:func:`missing_programs` says what to install when a program is absent (the rest of the stack runs
without a SIP side). :class:`SipServer` writes the configuration files from the tenant's agents and
SIP passwords into a private temporary directory, starts the three processes and stops them.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ctibridge_local.sip.baresip import MODULES_DIR as BARESIP_MODULES
from ctibridge_local.sip.baresip import Baresip, CallEvent
from ctibridge_local.sip.sounds import customer_voice

HERE = Path(__file__).resolve().parent
KAMAILIO_TEMPLATE = HERE / "kamailio.cfg"
KAMAILIO_MODULE_DIRS = [
    Path("/usr/lib/x86_64-linux-gnu/kamailio/modules"),
    Path("/usr/lib/aarch64-linux-gnu/kamailio/modules"),
    Path("/usr/lib/kamailio/modules"),
]
# program -> the Debian package that has it
PACKAGES = {
    "kamailio": "kamailio",
    "websocket.so": "kamailio-websocket-modules",
    "rtpengine": "rtpengine-daemon",
    "baresip": "baresip",
    "sox": "sox",
}
INSTALL_HINT = "sudo apt-get install kamailio kamailio-websocket-modules rtpengine-daemon baresip sox"


def _program(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


def _kamailio_modules() -> Path | None:
    return next((d for d in KAMAILIO_MODULE_DIRS if (d / "websocket.so").exists()), None)


def missing_programs() -> list[str]:
    """The Debian packages to install for the SIP side (empty: all there)."""
    missing = [name for name in ("kamailio", "rtpengine", "baresip", "sox") if _program(name) is None]
    if _program("kamailio") and _kamailio_modules() is None:
        missing.append("websocket.so")
    if _program("baresip") and not (BARESIP_MODULES / "ctrl_tcp.so").exists():
        missing.append("baresip")
    return [PACKAGES[name] for name in missing]


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_udp_and_tcp_port(host: str) -> int:
    """A port free for both UDP and TCP (SIP listens on both for one address in some setups)."""
    while True:
        port = free_port(host, socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port


def free_baresip_port(host: str) -> int:
    """A SIP port for baresip 1.0: it listens on UDP and TCP at the port and TLS at the next one."""
    while True:
        port = free_udp_and_tcp_port(host)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port + 1))
            except OSError:
                continue
            return port


def rtp_port_range(size: int = 200) -> tuple[int, int]:
    """A random even-aligned range below Linux's ephemeral ports (32768+), so it rarely collides with
    the ports other programs get; rtpengine and baresip skip any port that is busy anyway."""
    low = random.randrange(20000, 32000 - size, 2)  # noqa: S311 - a port, not a secret
    return low, low + size - 1


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class SipServer:
    host: str
    agents: dict[str, str]  # extension -> SIP password
    workdir: Path | None = None
    udp_port: int = 0
    ws_port: int = 0
    ng_port: int = 0
    customers_port: int = 0
    busy_port: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    customers: Baresip | None = None
    busy: BusyPhone | None = None
    on_stop: list[Callable[[], None]] = field(default_factory=list)  # e.g. end the customers' calls
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    @property
    def domain(self) -> str:
        return self.host

    @property
    def busy_address(self) -> str:
        """Where the busy customer's phone listens (the 486 comes from there)."""
        return f"{self.host}:{self.busy_port}"

    @property
    def outbound(self) -> str:
        """Where a plain user agent on loopback sends its requests (Kamailio's UDP side)."""
        return f"sip:{self.host}:{self.udp_port};lr"

    def start(self, timeout: float = 15) -> SipServer:
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ctibridge-sip-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)  # the Kamailio config holds the agents' SIP passwords
        self.udp_port = self.udp_port or free_udp_and_tcp_port(self.host)
        self.ws_port = self.ws_port or free_port(self.host)
        self.ng_port = self.ng_port or free_port(self.host, socket.SOCK_DGRAM)
        self.customers_port = self.customers_port or free_baresip_port(self.host)
        self.busy_port = self.busy_port or free_baresip_port(self.host)
        try:
            self._start_rtpengine(timeout)
            self._start_kamailio(timeout)
            self.customers = Baresip(
                _need("baresip"),
                self.workdir / "customers",
                host=self.host,
                sip_port=self.customers_port,
                ctrl_port=free_port(self.host),
                rtp_ports=rtp_port_range(100),
                user="customer",
                outbound=self.outbound,
                source_wav=customer_voice(self.workdir / "sounds"),
                auto_answer=True,
            ).start()
            self.busy = BusyPhone(
                Baresip(
                    _need("baresip"),
                    self.workdir / "busy",
                    host=self.host,
                    sip_port=self.busy_port,
                    ctrl_port=free_port(self.host),
                    rtp_ports=rtp_port_range(20),
                    user="busy",
                    outbound=self.outbound,
                    source_wav=customer_voice(self.workdir / "sounds"),
                )
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        assert self.workdir is not None
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed when the process ends
        process = subprocess.Popen(  # noqa: S603 - Debian's programs, configs we wrote
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        self.processes[name] = process
        return process

    def _start_rtpengine(self, timeout: float) -> None:
        low, high = rtp_port_range()
        self._spawn(
            "rtpengine",
            [
                _need("rtpengine"),
                "--config-file=none",  # not /etc/rtpengine's: everything is on this command line
                "--table=-1",  # userspace only: no kernel module
                f"--interface={self.host}",
                f"--listen-ng={self.host}:{self.ng_port}",
                f"--port-min={low}",
                f"--port-max={high}",
                "--foreground",
                "--log-stderr",
                "--log-level=6",
                f"--pidfile={self.workdir}/rtpengine.pid",
                "--delete-delay=0",
            ],
        )
        # Kamailio pings rtpengine once at start and leaves it disabled for a minute if it is not up yet.
        deadline = time.monotonic() + timeout
        while "Startup complete" not in self.logs("rtpengine"):
            if self.processes["rtpengine"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rtpengine did not start:\n{self.logs('rtpengine')[-3000:]}")
            time.sleep(0.05)

    def _start_kamailio(self, timeout: float) -> None:
        assert self.workdir is not None
        modules = _kamailio_modules()
        if modules is None:
            raise RuntimeError(
                "Kamailio's websocket module is missing: apt-get install kamailio-websocket-modules"
            )
        passwords = "\n".join(
            f"\tif ($au == {_quote(ext)}) $var(password) = {_quote(password)};"
            for ext, password in sorted(self.agents.items())
        )
        agents = "|".join(sorted(ext for ext in self.agents if ext.isalnum())) or "(?!)"
        config = (
            KAMAILIO_TEMPLATE.read_text()
            .replace("__HOST__", self.host)
            .replace("__UDP_PORT__", str(self.udp_port))
            .replace("__WS_PORT__", str(self.ws_port))
            .replace("__NG_PORT__", str(self.ng_port))
            .replace("__CUSTOMERS_PORT__", str(self.customers_port))
            .replace("__BUSY_PORT__", str(self.busy_port))
            .replace("__MODULES__", str(modules))
            .replace("__AGENTS__", agents)
            .replace("__PASSWORDS__", passwords or "\treturn;")
        )
        cfg = self.workdir / "kamailio.cfg"
        cfg.write_text(config)
        os.chmod(cfg, 0o600)
        process = self._spawn(
            "kamailio",
            [_need("kamailio"), "-f", str(cfg), "-DD", "-E", "-Y", str(self.workdir), "-m", "64", "-M", "8"],
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, other in self.processes.items():
                if other.poll() is not None:
                    raise RuntimeError(f"{name} exited with {other.returncode}:\n{self.logs(name)[-3000:]}")
            try:
                with socket.create_connection((self.host, self.ws_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        process.kill()
        raise TimeoutError(f"kamailio not listening after {timeout} s:\n{self.logs('kamailio')[-3000:]}")

    def logs(self, name: str) -> str:
        assert self.workdir is not None
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for hook in self.on_stop:
            hook()
        self.on_stop.clear()
        if self.customers is not None:
            self.customers.stop()
            self.customers = None
        if self.busy is not None:
            self.busy.stop()
            self.busy = None
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class BusyPhone:
    """A customer whose line is busy: a baresip that rejects every incoming call. Hanging up a call
    that rings and was not answered makes baresip 1.0 answer the INVITE ``486 Rejected``, so the 486 the
    webphone gets comes from a real user agent, through Kamailio, like a PBX's busy customer."""

    def __init__(self, phone: Baresip) -> None:
        self.phone = phone
        self.rejected: list[CallEvent] = []  # the incoming calls it turned away (CALL_INCOMING events)
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._reject, name="baresip-busy", daemon=True)

    def start(self) -> BusyPhone:
        self.phone.start()
        self._watcher.start()
        return self

    def _reject(self) -> None:
        seen = 0
        while not self._stopping.is_set():
            incoming = self.phone.wait_for("CALL_INCOMING", 0.2, since=seen)
            if incoming is None:
                continue
            seen = self.phone.events.index(incoming) + 1
            self.rejected.append(incoming)
            # Not from the reader thread: it is the one that reads ctrl_tcp's answer to the command.
            with contextlib.suppress(OSError, TimeoutError):
                self.phone.hangup()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join(timeout=2)
        self.phone.stop()


def _need(name: str) -> str:
    path = _program(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: apt-get install {PACKAGES.get(name, name)}")
    return path
