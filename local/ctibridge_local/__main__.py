"""`python -m ctibridge_local` (what `make dev` runs): start the local stack and print its URLs."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ctibridge_local import gc_pauses, state_file
from ctibridge_local.stack import LocalStack, StackConfig
from ctibridge_local.template import TEMPLATE_PATH

READY_LINE = "CTI Bridge local stack is ready"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def parse_args(argv: list[str] | None = None) -> StackConfig:
    parser = argparse.ArgumentParser(
        prog="python -m ctibridge_local",
        description=__doc__,
        epilog=(
            "While it runs, the stack publishes its URLs, table and queues in "
            f"{state_file.DEFAULT_STATE_PATH.name} at the repository's root (or the path in "
            f"{state_file.STATE_ENV}), which `ctibridge --local` reads."
        ),
    )
    parser.add_argument("--host", default=os.environ.get("CTIBRIDGE_HOST", "127.0.0.1"))
    parser.add_argument("--http-port", type=int, default=_port("CTIBRIDGE_HTTP_PORT", 3000))
    parser.add_argument("--ws-port", type=int, default=_port("CTIBRIDGE_WS_PORT", 3001))
    parser.add_argument("--web-port", type=int, default=_port("CTIBRIDGE_WEB_PORT", 8080))
    parser.add_argument("--moto-port", type=int, default=_port("CTIBRIDGE_MOTO_PORT", 5000))
    parser.add_argument(
        "--pbx-port", type=int, default=_port("CTIBRIDGE_PBX_PORT", 3002), help="PBX simulator"
    )
    parser.add_argument(
        "--count-aws-calls", action="store_true", help="count AWS calls at {web}/_local/aws-calls (bench)"
    )
    parser.add_argument(
        "--fault-proxy",
        action="store_true",
        help="route the functions' AWS calls through a proxy that can fail them: {web}/_local/aws-faults",
    )
    parser.add_argument("--no-seed", action="store_true", help="don't create the demo tenant")
    parser.add_argument(
        "--sip",
        choices=("auto", "off"),
        default=os.environ.get("CTIBRIDGE_SIP", "auto"),
        help="the SIP side (Kamailio, rtpengine, simulated customers): auto = when installed",
    )
    parser.add_argument(
        "--sip-dir", type=Path, default=None, help="keep the SIP side's configs, logs, recordings here"
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH, help="SAM template to serve")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="override a template parameter"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for the functions"
    )
    args = parser.parse_args(argv)
    return StackConfig(
        host=args.host,
        http_port=args.http_port,
        ws_port=args.ws_port,
        web_port=args.web_port,
        moto_port=args.moto_port,
        pbx_port=args.pbx_port,
        count_aws_calls=args.count_aws_calls,
        fault_proxy=args.fault_proxy,
        seed_demo=not args.no_seed,
        sip=args.sip,
        sip_dir=args.sip_dir,
        template_path=args.template.resolve(),
        parameters=dict(p.split("=", 1) for p in args.param),
        extra_env=dict(e.split("=", 1) for e in args.env),
    )


def sip_line(stack: LocalStack) -> str:
    """The banner's SIP line: where the webphone registers, or what to install to get a SIP side."""
    if stack.sip is not None:
        return (
            f"SIP server     {stack.sip.ws_url} (webphone, agents register here), "
            f"sip:{stack.sip.host}:{stack.sip.udp_port} (UDP)"
        )
    if stack.sip_missing:
        return f"SIP server     not started, install: sudo apt-get install {' '.join(stack.sip_missing)}"
    return "SIP server     off"


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.monotonic()
    stack = LocalStack(config)
    stack.start()
    gc_pauses.keep_pauses_short()  # every handler is imported and warm: freeze all that
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # SIGUSR1 simulates a restart of the WebSocket service (clients must reconnect).
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=stack.restart_websocket).start())
    faults = (
        f"\n  AWS faults     {stack.web_url}/_local/aws-faults (functions → {stack.fault_proxy.url} → moto)"
        if stack.fault_proxy
        else ""
    )
    published = state_file.write(stack.published_state())
    pid = os.getpid()
    print(
        f"""
  {READY_LINE} ({time.monotonic() - started:.1f} s)

  HTTP API       {stack.http_url}
  WebSocket API  {stack.ws_url}
  @connections   {stack.callback_url}/@connections/{{connectionId}}
  Webphone       {stack.web_url}
  Demo CRM       {stack.web_url}/demo-crm/
  AWS (moto)     {stack.moto.url}{faults}
  PBX simulator  {stack.pbx_url}
  {sip_line(stack)}

  CLI            .venv/bin/ctibridge --local tenant list      (reads {published})
  pid            {pid}: Ctrl-C or `kill {pid}` stops it, `kill -USR1 {pid}` restarts the WebSocket server

  Press Ctrl-C to stop.
""",
        flush=True,
    )
    try:
        stop.wait()
    finally:
        state_file.remove(os.getpid(), published)
        print("stopping…", flush=True)
        stopping = time.monotonic()
        stack.stop()
        print(f"stopped ({time.monotonic() - stopping:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
