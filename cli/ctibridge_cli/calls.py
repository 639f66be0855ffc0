"""``ctibridge calls list|show``: a tenant's stored calls, as the CRM's ``GET /v1/calls`` answers them.

For the operator who is asked "did the PBX send us that call?": the same query (indexes, filters, time
bounds in the tenant's timezone, cursors) and the same view as the calls API, read with the stack's
credentials instead of the tenant's API key. No recording URL is presigned here. Times in the table are
the tenant's clock, one clock for every row (a call with no call log yet has only the UTC instant it rang).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ctibridge.calls import api
from ctibridge.calls.query import DEFAULT_LIMIT, MAX_LIMIT
from ctibridge.calls.repository import CallRepository
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.crm import CommandFactory
from ctibridge_cli.text import pairs, table

COLUMNS = ("when", "direction", "phone", "extension", "status", "billsec", "recording", "callid")


class Output(Protocol):
    def emit(self, data: Any, text: str) -> None: ...


def _when(call: api.CallView, zone: ZoneInfo) -> str | None:
    instant = call.calldate or call.started_at  # UTC ISO 8601; no calldate before the PBX's call log
    if not instant:
        return call.calldate_local
    return datetime.fromisoformat(instant).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _row(call: api.CallView, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "when": _when(call, zone),
        "direction": call.direction,
        "phone": call.phone,
        "extension": call.extension,
        "status": call.status,
        "billsec": call.billsec,
        "recording": call.recording.state.value,
        "callid": call.callid,
    }


def calls_list(admin: TenantAdmin, args: argparse.Namespace, out: Output) -> None:
    tenant = admin.get_tenant(args.customer)
    page = api.list_calls(
        tenant,
        phone=args.phone,
        extension=args.extension,
        start=args.start,
        end=args.end,
        status=args.status,
        limit=args.limit,
        cursor=args.cursor,
        calls=CallRepository(admin.repository.table_name),
    )
    text = table([_row(call, tenant.zone) for call in page.items], COLUMNS)
    if page.next_cursor:
        text += f"\n\nmore: --cursor {page.next_cursor}"
    out.emit(page.model_dump(mode="json"), text)


def calls_show(admin: TenantAdmin, args: argparse.Namespace, out: Output) -> None:
    tenant = admin.get_tenant(args.customer)
    call = CallRepository(admin.repository.table_name).get(tenant.tenant_id, args.callid)
    if call is None:
        raise api.CallNotFound()
    data = api.to_view(call).model_dump(mode="json")
    out.emit(data, pairs(data))


def register(groups: Any, command: CommandFactory) -> None:
    """Add ``calls list`` and ``calls show`` to the ``ctibridge`` parser."""
    calls = groups.add_parser("calls", help="a tenant's stored calls (as GET /v1/calls)").add_subparsers(
        dest="command", required=True
    )
    p = command(calls, "list", calls_list, "a tenant's calls, newest first")
    p.add_argument("customer")
    p.add_argument("--phone", help="the customer's number, as the PBX sends it or E.164")
    p.add_argument("--extension")
    p.add_argument(
        "--from", dest="start", help="YYYY-MM-DD or an ISO date-time (the tenant's timezone if naive)"
    )
    p.add_argument("--to", dest="end", help="... until (exclusive; a date means the whole day)")
    p.add_argument("--status", help="ANSWERED, NO ANSWER, BUSY, FAILED, CANCEL, RINGING...")
    p.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"1..{MAX_LIMIT} (default {DEFAULT_LIMIT})"
    )
    p.add_argument("--cursor", help="the next page (printed under a full page)")
    p = command(calls, "show", calls_show, "one call, everything stored of it")
    p.add_argument("customer")
    p.add_argument("callid")
