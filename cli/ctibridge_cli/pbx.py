"""``ctibridge pbx simulate``: play PBX calls (seed 004 webhooks) against a running bridge.

The same driver as ``python -m ctibridge_local.pbx_simulator play`` (see that module for the
scenarios): incoming → ringing → answered / no answer, outgoing, retries, reordering, with recordings
served by the local stack's PBX simulator. It needs no table: it talks HTTP to the bridge only.

    ctibridge pbx simulate --scenario answered --api-key demo-api-key
"""

from __future__ import annotations

import argparse
from typing import Any

from ctibridge.errors import CtiError
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.crm import CommandFactory

DEFAULT_HTTP_URL = "http://127.0.0.1:3000"


class SimulationFailed(CtiError):
    code = "SIMULATION_FAILED"
    message = "Some webhooks were not answered 200; see the output above."


def pbx_simulate(admin: TenantAdmin, args: argparse.Namespace, out: Any) -> None:
    from ctibridge_local.pbx_simulator import DEFAULT_PORT, play_from_args  # the local stack's package

    local = getattr(args, "local_stack", None)
    if args.http_url is None:
        args.http_url = local.http_url if local else DEFAULT_HTTP_URL
    if local and args.pbx_url == f"http://127.0.0.1:{DEFAULT_PORT}":  # its recordings, on the stack's port
        args.pbx_url = local.pbx_url
    if play_from_args(args) != 0:
        raise SimulationFailed()


def register(groups: Any, command: CommandFactory) -> None:
    """Add ``pbx simulate`` to the ``ctibridge`` parser."""
    from ctibridge_local.pbx_simulator import add_play_arguments

    pbx = groups.add_parser("pbx", help="a simulated PBX (seed 004 call events)").add_subparsers(
        dest="command", required=True
    )
    p = command(pbx, "simulate", pbx_simulate, "play calls through the bridge's PBX webhooks")
    p.add_argument(
        "--http-url",
        help=f"the bridge's HTTP API (default: the local stack's with --local, else {DEFAULT_HTTP_URL})",
    )
    p.add_argument("--customer", default="demo")
    p.add_argument("--secret", default="demo-secret", help="the tenant's PBX secret")
    p.add_argument("--timezone", default="Asia/Ho_Chi_Minh", help="the PBX's clock (calldate)")
    add_play_arguments(p)
    p.set_defaults(needs_table=False)
