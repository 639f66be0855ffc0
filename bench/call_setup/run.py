"""Call setup with media, on the local stack's SIP side: how fast a call rings and is heard.

The local stack runs with its SIP side (Kamailio + rtpengine + baresip customers); agent 101's
webphone runs in headless Chromium with a WAV file as its microphone. N times, the PBX simulator plays
an answered call (``PbxDriver.play_with_media``: the customer's baresip sends a real INVITE through
Kamailio and ``incoming_call`` is posted), and two intervals are measured:

* **ring**: INVITE sent (the simulator's clock, when baresip was told to dial) → the page shows the
  ringing call with its Answer button (Playwright sees it; same machine, same clock);
* **answer → audio**: the Answer click (in the page) → the first inbound audio packet in the page's
  RTCPeerConnection ``getStats()`` (polled every 5 ms in the page): ICE, DTLS and the first RTP.

Then the agent hangs up and the next call starts. Results (p50/p90/p99) go to
bench/results/call_setup.json.

    python -m bench.call_setup.run [--calls 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT, ROOT / "layers" / "shared", ROOT / "local", ROOT / "cli"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench.popup_latency.run import _stats  # noqa: E402
from ctibridge_local.pbx_simulator import PbxDriver, PlayResult  # noqa: E402
from ctibridge_local.sip import sounds  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.audio import RECORD_PEER_CONNECTIONS  # noqa: E402
from tests.support.local_stack import start_stack  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "call_setup.json"
SECRET = "demo-secret"

# Click Answer, then poll the call's getStats() until the first inbound audio packet: milliseconds.
ANSWER_TO_AUDIO = """
async () => {
  const started = performance.now();
  document.getElementById("answer").click();
  for (;;) {
    const pcs = window.__peerConnections || [];
    const pc = pcs[pcs.length - 1];
    if (pc) {
      let packets = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") packets = s.packetsReceived;
      });
      if (packets > 0) return performance.now() - started;
    }
    if (performance.now() - started > 15000) return null;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
"""


def measure(calls: int, workdir: Path) -> dict[str, Any]:
    stack = start_stack(workdir, "--sip", "auto", "--sip-dir", str(workdir / "sip"))
    ring_ms: list[float] = []
    audio_ms: list[float] = []
    failures: list[str] = []
    try:
        if not httpx.get(f"{stack.pbx_url}/sip", timeout=5).json().get("available"):
            raise SystemExit("the SIP side did not start: see the local stack's banner for what to install")
        microphone = sounds.agent_voice(workdir / "agent.wav")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    *CHROMIUM_ARGS,
                    f"--use-file-for-fake-audio-capture={microphone}",
                    "--allow-loopback-in-peer-connection",
                ],
            )
            context = browser.new_context(locale="en-US")
            context.grant_permissions(["microphone"], origin=stack.web_url)
            page = context.new_page()
            page.add_init_script(RECORD_PEER_CONNECTIONS)
            page.goto(f"{stack.web_url}/dev/login?ipphone=101")
            page.locator("#sip-status").filter(has_text="Phone ready").wait_for(timeout=20_000)
            for n in range(calls):
                outcome: dict[str, PlayResult] = {}
                driver = PbxDriver(stack.http_url, "demo", SECRET, pbx_url=stack.pbx_url)
                play = threading.Thread(
                    target=_play, args=(driver, f"bench-{n}-{time.time_ns()}", outcome), daemon=True
                )
                play.start()
                page.locator("#answer").wait_for(state="visible", timeout=15_000)
                rang_at = time.time()
                invited_at = _invited_at(stack.pbx_url)
                ring_ms.append((rang_at - invited_at) * 1000)
                first_audio = page.evaluate(ANSWER_TO_AUDIO)
                if first_audio is None:
                    failures.append(f"call {n}: no inbound audio within 15 s")
                else:
                    audio_ms.append(float(first_audio))
                time.sleep(0.5)
                page.click("#hangup")
                play.join(30)
                driver.close()
                result = outcome.get("result")
                if result is None or result.deliveries[-1].fields.get("status") != "ANSWERED":
                    failures.append(f"call {n}: {result.as_dict() if result else 'did not end'}")
                page.locator("#app[data-call-state='in_call']").wait_for(state="detached", timeout=10_000)
            browser.close()
    finally:
        stack.stop()
    return {"ring": _stats(ring_ms), "answer_to_first_audio": _stats(audio_ms), "failures": failures}


def _play(driver: PbxDriver, callid: str, outcome: dict[str, PlayResult]) -> None:
    outcome["result"] = driver.play("answered", callid=callid, media=True)


def _invited_at(pbx_url: str) -> float:
    """The newest simulated call's INVITE time (the simulator's clock: this machine's)."""
    calls = httpx.get(f"{pbx_url}/calls", timeout=5).json()["calls"]
    return float(calls[-1]["invited_at"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-call-setup-") as tmp:
        figures = measure(args.calls, Path(tmp))
    report = {
        "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "config": {
            "calls": args.calls,
            "media_path": "PCMA: WebRTC (ICE, DTLS-SRTP) in Chromium ⇄ rtpengine ⇄ plain RTP (baresip)",
        },
        **figures,
    }
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 1 if figures["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
