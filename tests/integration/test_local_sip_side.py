"""The local stack's SIP side (Kamailio + rtpengine + baresip customers), without a browser.

What a browser adds (registration with the tenant's SIP password, answered calls with audio measured both
ways, transfer) is in tests/browser/test_sip_audio.py.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ctibridge_local.pbx_simulator import PbxDriver
from tests.support.local_stack import RunningStack, start_stack

SECRET = "demo-secret"


@pytest.fixture(scope="module")
def sip_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStack, Path]]:
    directory = tmp_path_factory.mktemp("sip-side")
    sip_dir = directory / "sip"
    stack = start_stack(directory, "--sip", "auto", "--sip-dir", str(sip_dir))
    try:
        yield stack, sip_dir
    finally:
        stack.stop()


def test_banner_names_the_sip_server_and_the_demo_tenant_points_at_it(
    sip_stack: tuple[RunningStack, Path],
) -> None:
    stack, sip_dir = sip_stack
    # The banner's SIP line: the WebSocket URL the webphone registers to
    match = re.search(r"SIP server +(ws://127\.0\.0\.1:\d+) ", stack.logs())
    assert match, stack.logs()[-2000:]
    info = httpx.get(f"{stack.pbx_url}/sip", timeout=5).json()
    assert info["available"] is True
    assert info["websocket_url"] == match.group(1)
    # The demo tenant's webphone settings point at it: no STUN server to wait for on loopback
    item = stack.client("dynamodb").get_item(
        TableName=stack.table_name, Key={"PK": {"S": "TENANT#demo"}, "SK": {"S": "PROFILE"}}
    )["Item"]
    assert item["sip_ws_url"]["S"] == match.group(1)
    assert item["sip_server"]["S"] == "127.0.0.1"
    assert item["ice_servers"]["L"] == []
    # The generated Kamailio config holds the agents' SIP passwords: readable by its owner only
    config = sip_dir / "kamailio.cfg"
    assert config.stat().st_mode & 0o077 == 0
    assert '$var(password) = "sip-101"' in config.read_text()
    assert "sip-101" not in stack.logs()


def test_a_call_to_an_extension_with_no_phone_is_played_without_media(
    sip_stack: tuple[RunningStack, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, _ = sip_stack
    with PbxDriver(stack.http_url, "demo", SECRET, pbx_url=stack.pbx_url, ring_seconds=0.05) as driver:
        result = driver.play("answered", callid=f"nophone-{time.time_ns()}", extension="102", media=True)
    # Kamailio answered the customer's INVITE 480 (102 is not registered): the call log is simulated
    assert result.media is not None
    assert result.media["state"] == "failed"
    assert result.media["reason"].startswith("480"), result.media
    assert "extension 102 has no phone registered" in capsys.readouterr().err
    assert [(d.kind, d.status) for d in result.deliveries] == [("incoming_call", 200), ("call_answered", 200)]
    assert result.deliveries[-1].fields["status"] == "ANSWERED"


def test_ctrl_c_stops_kamailio_rtpengine_and_baresip(tmp_path: Path) -> None:
    sip_dir = tmp_path / "sip"
    stack = start_stack(tmp_path, "--sip", "auto", "--sip-dir", str(sip_dir))
    try:
        children = _processes_using(sip_dir)
        names = {Path(cmdline[0]).name for cmdline in children.values()}
        assert {"kamailio", "rtpengine", "baresip"} <= names, children
    finally:
        stack.process.send_signal(signal.SIGINT)
        stack.process.wait(timeout=20)
    deadline = time.monotonic() + 10
    while _processes_using(sip_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_using(sip_dir) == {}


def _processes_using(directory: Path) -> dict[int, list[str]]:
    """Running processes whose command line names ``directory`` (the SIP side's configs live there)."""
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (
            state != "Z"
            and any(str(directory) in part for part in cmdline)
            and int(entry.name) != os.getpid()
        ):
            found[int(entry.name)] = [part for part in cmdline if part]
    return found
