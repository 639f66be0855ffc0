"""Starts the real local stack (`python -m ctibridge_local`) on free ports, as `make dev` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from ctibridge_local.state_file import STATE_ENV
from tests.support.ports import free_port

READY_LINE = "CTI Bridge local stack is ready"
REGION = "us-east-1"


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    http_url: str
    ws_url: str
    callback_url: str
    web_url: str
    moto_url: str
    log_path: Path
    stage: str = "dev"
    table_name: str = "ctibridge-dev-table"
    output: list[str] = field(default_factory=list)
    pbx_url: str = ""  # the PBX simulator (recordings, click2call.php)
    state_path: Path | None = None  # what the stack publishes for `ctibridge --local` (CTIBRIDGE_LOCAL_STATE)

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
        ).client(service, endpoint_url=self.moto_url)

    def resource_name(self, logical_id: str) -> str:
        return f"ctibridge-{self.stage}-{logical_id}".lower()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def restart_websocket(self) -> None:
        """Ask the stack to drop all WebSocket clients and restart its WebSocket server."""
        self.process.send_signal(signal.SIGUSR1)

    def aws_faults(self, mode: str | None = None, **options: float) -> dict[str, Any]:
        """The fault proxy's state (a stack started with ``--fault-proxy``); with ``mode``, switch it
        first: ``pass``, ``down``, ``throttle`` or ``slow`` (``delay_seconds=``)."""
        url = f"{self.web_url}/_local/aws-faults"
        answer = httpx.put(url, json={"mode": mode, **options}, timeout=15) if mode else httpx.get(url)
        answer.raise_for_status()
        state: dict[str, Any] = answer.json()
        return state

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_stack(log_dir: Path, *extra_args: str, timeout: float = 60) -> RunningStack:
    ports: dict[str, int] = {}
    for name in ("http", "ws", "web", "moto", "pbx"):
        # each free_port() is free on its own; make sure no two of ours are the same one
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[name] = port
    log_path = log_dir / "local-stack.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed when the process ends
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    if not any(arg.startswith("--sip") for arg in extra_args):
        # The SIP side (Kamailio, rtpengine, baresip) only for the tests that ask for it: fewer processes.
        extra_args = (*extra_args, "--sip", "off")
    # Its own state file: a `make dev` stack running beside the tests keeps the repository's one.
    state_path = log_dir / "local-stack-state.json"
    env[STATE_ENV] = str(state_path)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ctibridge_local",
            "--http-port",
            str(ports["http"]),
            "--ws-port",
            str(ports["ws"]),
            "--web-port",
            str(ports["web"]),
            "--moto-port",
            str(ports["moto"]),
            "--pbx-port",
            str(ports["pbx"]),
            *extra_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY_LINE in log_path.read_text(errors="replace"):
            break
        if process.poll() is not None:
            raise RuntimeError(f"local stack exited with {process.returncode}:\n{log_path.read_text()}")
        time.sleep(0.1)
    else:
        process.kill()
        raise TimeoutError(f"local stack not ready after {timeout} s:\n{log_path.read_text()}")
    host = "127.0.0.1"
    return RunningStack(
        process=process,
        http_url=f"http://{host}:{ports['http']}",
        ws_url=f"ws://{host}:{ports['ws']}/dev",
        callback_url=f"http://{host}:{ports['ws']}/dev",
        web_url=f"http://{host}:{ports['web']}",
        moto_url=f"http://{host}:{ports['moto']}",
        log_path=log_path,
        pbx_url=f"http://{host}:{ports['pbx']}",
        state_path=state_path,
    )
