"""A simulated customer's phone: Debian's baresip, driven through its ``ctrl_tcp`` module.

Each :class:`Baresip` is one baresip process with its own configuration directory: a SIP account with
no registration that sends everything through the local Kamailio (``outbound``), plain RTP with G.711,
a WAV file as its microphone (``aufile``) and every call's audio written to WAV files by ``sndfile``
(``dump-…-dec.wav`` is what it heard). Commands (``dial``, ``hangup``, ``accept``) and call events
(``CALL_RINGING``, ``CALL_ESTABLISHED``, ``CALL_CLOSED``…) travel as JSON in netstrings on ctrl_tcp's
TCP socket: that is baresip's control interface, not SIP; baresip does all the SIP and RTP.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODULES_DIR = Path("/usr/lib/baresip/modules")


@dataclass
class CallEvent:
    type: str  # CALL_INCOMING, CALL_RINGING, CALL_PROGRESS, CALL_ESTABLISHED, CALL_CLOSED…
    at: float  # time.time() when it arrived
    fields: dict[str, Any]


class Baresip:
    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        host: str,
        sip_port: int,
        ctrl_port: int,
        rtp_ports: tuple[int, int],
        user: str,
        outbound: str,
        source_wav: Path,
        auto_answer: bool = False,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.host = host
        self.sip_port = sip_port
        self.ctrl_port = ctrl_port
        self.rtp_ports = rtp_ports
        self.user = user
        self.outbound = outbound
        self.source_wav = source_wav
        self.auto_answer = auto_answer
        self.record_dir = workdir / "audio"
        self.events: list[CallEvent] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._changed = threading.Condition()
        self._responses: dict[str, dict[str, Any]] = {}
        self._token = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / "baresip.log"

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record_dir.mkdir(exist_ok=True)
        low, high = self.rtp_ports
        # Order matters: the codecs before the account that names them; menu has the dial/hangup commands.
        modules = ["g711", "aufile", "alsa", "sndfile", "menu", "ctrl_tcp", "account"]
        config = [
            "poll_method epoll",
            f"sip_listen {self.host}:{self.sip_port}",
            f"module_path {MODULES_DIR}",
            *(f"module {name}.so" for name in modules),
            # aufile is the microphone; the speaker is ALSA's null device (sndfile keeps what is heard).
            f"audio_source aufile,{self.source_wav}",
            "audio_player alsa,null",
            "audio_alert alsa,null",
            f"rtp_ports {low}-{high}",
            "rtp_timeout 0",
            f"ctrl_tcp_listen {self.host}:{self.ctrl_port}",
            f"snd_path {self.record_dir}",
            f"net_interface {self.host}",
        ]
        (self.workdir / "config").write_text("\n".join(config) + "\n")
        answer = ";answermode=auto" if self.auto_answer else ""
        account = (
            f'<sip:{self.user}@{self.host}>;regint=0;outbound="{self.outbound}"'
            f";audio_codecs=PCMA,PCMU{answer}"
        )
        (self.workdir / "accounts").write_text(account + "\n")
        (self.workdir / "contacts").write_text("")

    def start(self, timeout: float = 10) -> Baresip:
        self._write_config()
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed when the process ends
        self.process = subprocess.Popen(  # noqa: S603 - Debian's baresip, our config directory
            [self.binary, "-f", str(self.workdir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"baresip exited with {self.process.returncode}:\n{self.logs()}")
            try:
                self._sock = socket.create_connection((self.host, self.ctrl_port), timeout=0.2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"baresip's ctrl_tcp not listening:\n{self.logs()}") from None
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name=f"baresip-{self.user}", daemon=True)
        self._reader.start()
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ------------------------------------------------------------ control
    def command(self, name: str, params: str = "", timeout: float = 5) -> dict[str, Any]:
        assert self._sock is not None
        with self._changed:
            self._token += 1
            token = str(self._token)
        body = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._sock.sendall(b"%d:%s," % (len(body), body))
        with self._changed:
            if not self._changed.wait_for(lambda: token in self._responses, timeout):
                raise TimeoutError(f"baresip did not answer {name!r}")
            return self._responses.pop(token)

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def hangup(self) -> None:
        self.command("hangup")

    def wait_for(
        self, check: Callable[[CallEvent], bool] | str, timeout: float, since: int = 0
    ) -> CallEvent | None:
        """The first event from index ``since`` that ``check`` accepts (or of that type)."""
        accept = (lambda e: e.type == check) if isinstance(check, str) else check
        with self._changed:
            found: list[CallEvent] = []

            def seen() -> bool:
                found[:] = [e for e in self.events[since:] if accept(e)]
                return bool(found)

            self._changed.wait_for(seen, timeout)
            return found[0] if found else None

    def heard(self) -> list[Path]:
        """The WAV files of what this phone heard (one per call), oldest first."""
        return sorted(self.record_dir.glob("dump-*-dec.wav"), key=lambda p: p.stat().st_mtime)

    def _read(self) -> None:
        assert self._sock is not None
        buffer = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b":" in buffer:
                length, _, rest = buffer.partition(b":")
                size = int(length)
                if len(rest) < size + 1:
                    break
                message = json.loads(rest[:size])
                buffer = rest[size + 1 :]
                with self._changed:
                    if message.get("response"):
                        self._responses[str(message.get("token"))] = message
                    elif message.get("event"):
                        self.events.append(CallEvent(str(message.get("type")), time.time(), message))
                    self._changed.notify_all()

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError, TimeoutError):  # it may be gone already
                self.command("quit", timeout=1)
            self._sock.close()
            self._sock = None
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=3)
