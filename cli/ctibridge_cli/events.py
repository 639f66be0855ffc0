"""``ctibridge events replay`` and ``ctibridge events deliveries``: call events sent to the CRM.

* ``events replay --dlq [--customer C]``: move dead-lettered deliveries back to the DeliveryQueue;
* ``events replay --customer C --from ISO --to ISO [--include-delivered]``: re-queue the deliveries of
  the events that occurred in that range (naive times are the tenant's local time);
* ``events deliveries C [--status failed]``: the latest delivery attempts, as ``GET /v1/deliveries``.

The queue URLs are the stack's Outputs ``DeliveryQueueUrl`` and ``DeliveryDeadLetterQueueUrl``, given
with ``--queue-url``/``--dlq-url`` or ``CTIBRIDGE_DELIVERY_QUEUE_URL``/``CTIBRIDGE_DELIVERY_DLQ_URL``.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any, Protocol

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ctibridge.delivery import replay
from ctibridge.delivery.store import AttemptStatus, DeliveryStore
from ctibridge.errors import BadRequest
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.crm import CommandFactory
from ctibridge_cli.text import table as _table


class Output(Protocol):
    def emit(self, data: Any, text: str) -> None: ...


class _Environment(BaseSettings):
    """Defaults of --queue-url and --dlq-url."""

    model_config = SettingsConfigDict(extra="ignore")

    queue_url: str | None = Field(default=None, validation_alias=AliasChoices("CTIBRIDGE_DELIVERY_QUEUE_URL"))
    dlq_url: str | None = Field(default=None, validation_alias=AliasChoices("CTIBRIDGE_DELIVERY_DLQ_URL"))


def _iso(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from None


def _report_text(report: replay.ReplayReport, dry_run: bool) -> str:
    verb = "Would replay" if dry_run else "Replayed"
    lines = [f"{verb} {report.replayed} delivery(ies) ({report.run}); left out {report.skipped}."]
    if report.unreadable:
        lines.append(f"{report.unreadable} unreadable message(s) left in the dead-letter queue.")
    lines += [f"  {tenant}: {count}" for tenant, count in sorted(report.by_tenant.items())]
    return "\n".join(lines)


def events_replay(admin: TenantAdmin, args: argparse.Namespace, out: Output) -> None:
    environment = _Environment()
    local = getattr(args, "local_stack", None)  # ctibridge --local: the stack's own queues
    queue_url = args.queue_url or (local.queue_urls.get("DeliveryQueue") if local else environment.queue_url)
    if not queue_url:
        raise BadRequest("no DeliveryQueue URL: pass --queue-url or set CTIBRIDGE_DELIVERY_QUEUE_URL")
    if args.dlq:
        dlq_url = args.dlq_url or (
            local.queue_urls.get("DeliveryDeadLetterQueue") if local else environment.dlq_url
        )
        if not dlq_url:
            raise BadRequest("no dead-letter queue URL: pass --dlq-url or set CTIBRIDGE_DELIVERY_DLQ_URL")
        if args.customer:
            admin.get_tenant(args.customer)  # NotFound for a typo, instead of "0 replayed"
        report = replay.replay_dead_letters(
            dlq_url=dlq_url, queue_url=queue_url, tenant_id=args.customer, dry_run=args.dry_run
        )
    else:
        if not args.customer or args.start is None or args.end is None:
            raise BadRequest("a time range needs --customer, --from and --to")
        tenant = admin.get_tenant(args.customer)
        start = args.start if args.start.tzinfo else args.start.replace(tzinfo=tenant.zone)
        end = args.end if args.end.tzinfo else args.end.replace(tzinfo=tenant.zone)
        if start >= end:
            raise BadRequest("--from must be before --to")
        report = replay.replay_range(
            table_name=admin.repository.table_name,
            queue_url=queue_url,
            tenant_id=tenant.tenant_id,
            start=start,
            end=end,
            include_delivered=args.include_delivered,
            dry_run=args.dry_run,
        )
    data = {
        "run": report.run,
        "replayed": report.replayed,
        "skipped": report.skipped,
        "unreadable": report.unreadable,
        "by_tenant": report.by_tenant,
        "dry_run": args.dry_run,
    }
    out.emit(data, _report_text(report, args.dry_run))


def events_deliveries(admin: TenantAdmin, args: argparse.Namespace, out: Output) -> None:
    tenant = admin.get_tenant(args.customer)
    status = AttemptStatus(args.status) if args.status else None
    page = DeliveryStore(admin.repository.table_name).list_attempts(
        tenant.tenant_id, status=status, limit=args.limit
    )
    views = [item.model_dump(mode="json") for item in page.items]
    columns = (
        "attempted_at",
        "event_type",
        "callid",
        "endpoint_id",
        "attempt",
        "status",
        "http_status",
        "error_code",
    )
    out.emit({"items": views, "next_cursor": page.next_cursor}, _table(views, columns))


def register(groups: Any, command: CommandFactory) -> None:
    """Add ``events replay`` and ``events deliveries`` to the ``ctibridge`` parser."""
    events = groups.add_parser("events", help="call events forwarded to the CRM").add_subparsers(
        dest="command", required=True
    )
    p = command(events, "replay", events_replay, "send CRM deliveries again, from the DLQ or a time range")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dlq", action="store_true", help="move the dead-letter queue's deliveries back")
    source.add_argument("--from", dest="start", type=_iso, help="events that occurred from (ISO 8601)")
    p.add_argument("--to", dest="end", type=_iso, help="... until (exclusive; with --from)")
    p.add_argument("--customer", help="only this tenant (required with --from/--to)")
    p.add_argument("--include-delivered", action="store_true", help="range: also send delivered events again")
    p.add_argument("--dry-run", action="store_true", help="count, change nothing")
    p.add_argument("--queue-url", help="DeliveryQueue URL (env CTIBRIDGE_DELIVERY_QUEUE_URL)")
    p.add_argument("--dlq-url", help="DeliveryDeadLetterQueue URL (env CTIBRIDGE_DELIVERY_DLQ_URL)")
    p = command(events, "deliveries", events_deliveries, "the latest CRM delivery attempts of a tenant")
    p.add_argument("customer")
    p.add_argument("--status", choices=[s.value for s in AttemptStatus])
    p.add_argument("--limit", type=int, default=50)
