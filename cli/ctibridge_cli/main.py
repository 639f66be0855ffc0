"""``ctibridge``: the operators' CLI for tenants, agents and test tokens.

It talks to AWS through boto3's standard configuration (AWS_PROFILE, AWS_REGION or AWS_DEFAULT_REGION...).
``--local`` (or ``CTIBRIDGE_LOCAL=1``) points every command at the running ``make dev`` stack instead:
its moto endpoint, region, dummy credentials, table, stage, queue URLs and @connections URL, read from
what the stack published when it started (``ctibridge_local.state_file``); no AWS variable is needed.
The table and stage come from ``--table``/``--stage`` or ``CTIBRIDGE_TABLE``/``CTIBRIDGE_STAGE``.
Revoking sessions (``agent update --revoke-sessions``, ``agent remove``, expiring or suspending a tenant)
closes the webphone tabs they opened when the WebSocket API's @connections endpoint is known:
``--ws-callback-url`` or ``CTIBRIDGE_WS_CALLBACK_URL`` (the stack's Output ``WebSocketCallbackUrl``).

Secrets are printed once, when created or rotated, or on explicit ``tenant show --show-secrets``.
"""

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ctibridge.auth.crm_jwt import EXPIRED_FORMAT
from ctibridge.errors import BadRequest, Conflict, CtiError, NotFound
from ctibridge.tenants.models import WEBPHONE_LANGUAGES, Agent, DeviceType, Tenant, TenantSecrets
from ctibridge.tenants.provisioning import KEY_KINDS, TenantAdmin
from ctibridge_cli import calls, crm, events, local_target, pbx
from ctibridge_cli.text import pairs as _pairs
from ctibridge_cli.text import table as _table

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # invalid arguments or values (argparse uses 2 as well)
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_AWS = 5  # AWS unreachable, no credentials, missing table, access denied...

EPILOG = """\
exit codes: 0 ok, 2 invalid usage or value, 3 not found, 4 already exists, 5 AWS error, 1 other.
Against the running `make dev` stack: ctibridge --local ... (or CTIBRIDGE_LOCAL=1); no AWS variable needed."""
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away (`| head`)


class _Environment(BaseSettings):
    """Defaults of --table and --stage."""

    model_config = SettingsConfigDict(extra="ignore")

    table: str | None = Field(default=None, validation_alias=AliasChoices("CTIBRIDGE_TABLE"))
    stage: str = Field(default="dev", validation_alias=AliasChoices("CTIBRIDGE_STAGE"))
    ws_callback_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CTIBRIDGE_WS_CALLBACK_URL")
    )
    local: bool = Field(default=False, validation_alias=AliasChoices("CTIBRIDGE_LOCAL"))


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ---------------------------------------------------------------- argument types


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {value!r}") from None


def _queue_number(value: str) -> tuple[str, str]:
    """``QUEUE=NUMBER`` of --transfer-queue."""
    queue, sep, number = value.partition("=")
    if not sep or not queue or not number:
        raise argparse.ArgumentTypeError(f"expected QUEUE=NUMBER: {value!r}")
    return queue, number


def _local_datetime(value: str) -> str:
    try:
        datetime.strptime(value, EXPIRED_FORMAT)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time 'YYYY-MM-DD HH:MM:SS': {value!r}") from None
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"not a positive integer: {value!r}")
    return number


# ---------------------------------------------------------------- output


def _tenant_view(tenant: Tenant) -> dict[str, Any]:
    view = tenant.model_dump(mode="json", exclude={"api_key_hashes"})
    view["customer"] = tenant.tenant_id
    view["active"] = tenant.is_active()
    view["api_keys"] = len(tenant.api_key_hashes)
    return view


def _agent_view(agent: Agent) -> dict[str, Any]:
    return agent.model_dump(mode="json", exclude={"tenant_id"})


def _secrets_view(tenant_secrets: TenantSecrets) -> dict[str, Any]:
    return tenant_secrets.plain()


class _Output:
    def __init__(self, as_json: bool, out: TextIO) -> None:
        self.as_json = as_json
        self.out = out

    def emit(self, data: Any, text: str) -> None:
        if self.as_json:
            json.dump(data, self.out, indent=2, default=str)
            self.out.write("\n")
        else:
            self.out.write(text.rstrip("\n") + "\n")


LOCAL_HELP = (
    "talk to the running `make dev` stack (its endpoint, region, dummy credentials, table, stage, queue "
    "and @connections URLs), no AWS variable needed (env CTIBRIDGE_LOCAL=1)"
)
Command = Callable[[TenantAdmin, argparse.Namespace, _Output], None]

SECRET_WARNING = "Shown once: store these now; they cannot be displayed again without --show-secrets."


# ---------------------------------------------------------------- commands


# The tenant's list fields: (option stem, field, what one value is). ``tenant create --STEM V`` sets the
# first values; ``tenant update`` adds (``--STEM``/``--add-STEM``), removes (``--remove-STEM``) or, only
# when asked in so many words, replaces the whole list (``--replace-STEMs V ...``, none to empty it): an
# update that names one origin must not silently drop the others.
LIST_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("allowed-origin", "allowed_origins", "origin allowed to embed the webphone (CRM page)"),
    ("recording-host", "recording_hosts_allowed", "host[:port] of recordings exempt from SSRF checks"),
    ("crm-host", "crm_hosts_allowed", "host[:port] of a CRM on a private network the lookup may reach"),
    ("callout-allow-prefix", "callout_allow_prefixes", "click-to-call only numbers with this prefix"),
    ("callout-deny-prefix", "callout_deny_prefixes", "never call numbers with this prefix, e.g. 1900"),
)


def _dest(stem: str) -> str:
    return stem.replace("-", "_")


def _list_changes(current: Tenant, args: argparse.Namespace) -> dict[str, list[str]]:
    """The list fields ``tenant update`` changes, from the tenant's current lists (absent: unchanged)."""
    changes: dict[str, list[str]] = {}
    for stem, field_name, _ in LIST_OPTIONS:
        replace = getattr(args, f"replace_{_dest(stem)}s")
        added = getattr(args, f"add_{_dest(stem)}") or []
        removed = getattr(args, f"remove_{_dest(stem)}") or []
        if replace is None and not added and not removed:
            continue
        values: list[str] = list(getattr(current, field_name) if replace is None else replace)
        values += [v for v in added if v not in values]
        changes[field_name] = [v for v in dict.fromkeys(values) if v not in removed]
    return changes


def _profile_options(args: argparse.Namespace) -> dict[str, Any]:
    """Tenant profile fields given on the command line (absent options are left out)."""
    options = {
        "name": args.name,
        "timezone": args.timezone,
        "expiry_date": args.expiry_date,
        "pbx_click2call_url": args.click2call_url,
        "crm_lookup_url": args.crm_lookup_url,
        "sip_server": args.sip_server,
        "sip_ws_url": args.sip_ws_url,
        "sip_realm": args.sip_realm,
        "webphone_language": args.webphone_language,
        **{field_name: getattr(args, _dest(stem), None) for stem, field_name, _ in LIST_OPTIONS},
        "transfer_queues": dict(args.transfer_queue) if args.transfer_queue is not None else None,
    }
    return {k: v for k, v in options.items() if v is not None}


def tenant_create(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    created = admin.create_tenant(
        args.customer,
        args.domain,
        jwt_access_key=args.jwt_access_key,
        pbx_secret=args.pbx_secret,
        click2call_secret=args.click2call_secret,
        crm_secret=args.crm_secret,
        api_key=args.api_key,
        **_profile_options(args),
    )
    shown = {"api_key": created.api_key, **_secrets_view(created.secrets)}
    shown.pop("sip_passwords")
    shown.pop("crm_endpoint_secrets", None)
    out.emit(
        {"tenant": _tenant_view(created.tenant), "secrets": shown},
        f"Created tenant {created.tenant.tenant_id} (domain {created.tenant.domain}).\n"
        f"{_pairs(shown)}\n{SECRET_WARNING}",
    )


def tenant_list(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    views = [_tenant_view(t) for t in admin.list_tenants()]
    out.emit(views, _table(views, ("customer", "domain", "status", "expiry_date", "timezone", "active")))


def tenant_show(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    tenant = admin.get_tenant(args.customer)
    agents = [_agent_view(a) for a in admin.list_agents(args.customer)]
    data: dict[str, Any] = {"tenant": _tenant_view(tenant), "agents": agents}
    text = f"{_pairs(data['tenant'])}\n\nagents:\n{_table(agents, ('ipphone', 'user_id', 'display_name'))}"
    if args.show_secrets:
        data["secrets"] = _secrets_view(admin.read_secrets(args.customer))
        text += f"\n\nsecrets:\n{_pairs(data['secrets'])}"
    else:
        data["secret_name"] = admin.secret_store.name(tenant.tenant_id)
        text += f"\n\nsecrets: in {data['secret_name']} (--show-secrets to print them)"
    out.emit(data, text)


def _tabs_note(admin: TenantAdmin) -> str:
    """What really became of the open webphone tabs of the sessions just revoked."""
    report = admin.last_tabs
    if report is None:
        return ""
    if not report.pushed:
        return (
            f"{report.found} open webphone tab(s) of those sessions no longer get popups; to also "
            "close them, pass --ws-callback-url (the stack's WebSocketCallbackUrl) or set "
            "CTIBRIDGE_WS_CALLBACK_URL."
        )
    text = f"Open webphone tabs of those sessions: {report.found}; told {report.told}, closed {report.closed}"
    if report.gone:
        text += f", already gone {report.gone}"
    if report.failed:
        text += f", NOT closed {report.failed} (see the log)"
    return text + "."


def _with_tabs(admin: TenantAdmin, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with what the revocation did to the open tabs (``--json``), if anything was revoked."""
    report = admin.last_tabs
    return data if report is None else {**data, "tabs": dataclasses.asdict(report)}


def _check_tabs(admin: TenantAdmin, whose: str) -> None:
    """After the answer is printed: tabs that could not be closed make the command fail."""
    report = admin.last_tabs
    if report is not None and report.failed:
        raise CliError(f"{report.failed} open tab(s) of {whose} could not be closed", EXIT_FAILURE)


def tenant_update(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    changes = _profile_options(args)
    if any(
        getattr(args, f"{verb}_{_dest(stem)}{suffix}") is not None
        for stem, _, _ in LIST_OPTIONS
        for verb, suffix in (("add", ""), ("remove", ""), ("replace", "s"))
    ):
        changes.update(_list_changes(admin.get_tenant(args.customer), args))
    if args.status:
        changes["status"] = args.status
    if args.no_expiry:
        changes["expiry_date"] = None
    if not changes:
        raise CliError("nothing to update: give at least one option")
    tenant = admin.update_tenant(args.customer, **changes)
    text = f"Updated tenant {tenant.tenant_id}.\n{_pairs(_tenant_view(tenant))}"
    if {"status", "expiry_date"} & changes.keys() and not tenant.is_active():
        text += f"\n{_tabs_note(admin)}"
    out.emit(_with_tabs(admin, _tenant_view(tenant)), text)
    _check_tabs(admin, tenant.tenant_id)


def tenant_expire(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    tenant = admin.expire(args.customer, args.on)
    when = f"after {args.on.isoformat()}" if args.on else "now"
    text = f"Tenant {tenant.tenant_id} expires {when} (status {tenant.status.value})."
    if not tenant.is_active():
        text += f"\n{_tabs_note(admin)}"
    out.emit(_with_tabs(admin, _tenant_view(tenant)), text)
    _check_tabs(admin, tenant.tenant_id)


def tenant_rotate_key(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    value = admin.rotate_key(args.customer, args.kind, keep_old=args.keep_old)
    note = " The previous API keys keep working." if args.kind == "api" and args.keep_old else ""
    out.emit(
        {"customer": args.customer, "kind": args.kind, "value": value},
        f"New {args.kind} key of {args.customer}: {value}\n{SECRET_WARNING}{note}",
    )


def agent_add(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    agent, password = admin.add_agent(
        args.customer,
        args.ipphone,
        display_name=args.display_name or "",
        device_type=DeviceType(args.device_type),
        mobile=args.mobile,
        sip_username=args.sip_username or "",
        sip_password=args.sip_password,
    )
    view = {**_agent_view(agent), "sip_password": password}
    out.emit(view, f"Added agent {agent.ipphone} to {args.customer}.\n{_pairs(view)}\n{SECRET_WARNING}")


def agent_list(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    agents = admin.list_agents(args.customer)
    if args.ipphone:
        known = {a.ipphone for a in agents}
        missing = [ipphone for ipphone in args.ipphone if ipphone not in known]
        if missing:
            raise NotFound(f"No agent {', '.join(missing)} in {args.customer}.", code="AGENT_NOT_FOUND")
        agents = [a for a in agents if a.ipphone in args.ipphone]
    views = [_agent_view(a) for a in agents]
    out.emit(views, _table(views, ("ipphone", "user_id", "display_name", "device_type", "mobile")))


def _each_agent(command: Command) -> Command:
    """Run an agent command for each extension given (``agent update|remove shop1 101 102 ...``).

    One extension answers as before (an object in JSON); several answer a JSON list, in order. The
    first failure stops there: the extensions before it are done, the error says which one failed.
    """

    def run(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
        if len(args.ipphones) == 1:
            command(admin, argparse.Namespace(**{**vars(args), "ipphone": args.ipphones[0]}), out)
            return
        results: list[Any] = []
        texts: list[str] = []
        for ipphone in args.ipphones:
            one = _Capture()
            command(admin, argparse.Namespace(**{**vars(args), "ipphone": ipphone}), one)
            results.append(one.data)
            texts.append(one.text)
        out.emit(results, "\n\n".join(texts))

    return run


class _Capture(_Output):
    """What one command would have printed, kept to print several together."""

    def __init__(self) -> None:
        super().__init__(False, sys.stdout)
        self.data: Any = None
        self.text = ""

    def emit(self, data: Any, text: str) -> None:
        self.data, self.text = data, text.rstrip("\n")


def agent_update(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    changes: dict[str, Any] = {}
    if args.display_name is not None:
        changes["display_name"] = args.display_name
    if args.device_type is not None:
        changes["device_type"] = DeviceType(args.device_type)
    if args.mobile is not None:
        changes["mobile"] = args.mobile
    if args.clear_mobile:
        changes["mobile"] = None
    if args.sip_username is not None:
        changes["sip_username"] = args.sip_username
    if not changes and args.sip_password is None and not args.revoke_sessions:
        raise CliError("nothing to update: give at least one option")
    agent = admin.update_agent(
        args.customer,
        args.ipphone,
        changes=changes,
        sip_password=args.sip_password,
        revoke_sessions=args.revoke_sessions,
    )
    view = _agent_view(agent)
    text = f"Updated agent {agent.ipphone} of {args.customer}.\n{_pairs(view)}"
    if args.revoke_sessions:
        text += f"\n{_tabs_note(admin)}"
    out.emit(_with_tabs(admin, view), text)
    _check_tabs(admin, f"{args.customer}/{agent.ipphone}")


def agent_remove(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    admin.remove_agent(args.customer, args.ipphone)
    out.emit(
        _with_tabs(admin, {"customer": args.customer, "ipphone": args.ipphone, "removed": True}),
        f"Removed agent {args.ipphone} of {args.customer}; its sessions no longer work.\n{_tabs_note(admin)}",
    )
    _check_tabs(admin, f"{args.customer}/{args.ipphone}")


def token_mint(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    expired: datetime | None = None
    if args.expired:
        zone: ZoneInfo = admin.get_tenant(args.customer).zone
        expired = datetime.strptime(args.expired, EXPIRED_FORMAT).replace(tzinfo=zone)
    ttl = None if args.no_expired else args.ttl_seconds
    token, expired_text = admin.mint_token(args.customer, args.ipphone, ttl_seconds=ttl, expired=expired)
    out.emit({"token": token, "expired": expired_text, "ipphone": args.ipphone}, token)


def demo_seed(admin: TenantAdmin, args: argparse.Namespace, out: _Output) -> None:
    from ctibridge_cli.demo import seed_demo_tenant

    created = seed_demo_tenant(admin.repository.table_name, admin.secret_store.stage)
    what = f"created {', '.join(created)}" if created else "nothing was missing"
    out.emit(
        {"customer": "demo", "seeded": True, "created": created},
        f"Demo tenant 'demo' is ready ({what}; anything else was left as it was).",
    )


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    # The common options are accepted before or after the subcommand; SUPPRESS keeps a subcommand's
    # absent option from overwriting the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--table", default=argparse.SUPPRESS, help="DynamoDB table (env CTIBRIDGE_TABLE)")
    common.add_argument(
        "--stage", default=argparse.SUPPRESS, help="stage naming the secrets (env CTIBRIDGE_STAGE)"
    )
    common.add_argument(
        "--ws-callback-url",
        default=argparse.SUPPRESS,
        help="@connections endpoint, to close revoked sessions' tabs (env CTIBRIDGE_WS_CALLBACK_URL)",
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    common.add_argument("--local", action="store_true", default=argparse.SUPPRESS, help=LOCAL_HELP)

    parser = argparse.ArgumentParser(
        prog="ctibridge",
        description="Operate CTI Bridge tenants, agents and test tokens.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--table", default=None, help="DynamoDB table (env CTIBRIDGE_TABLE)")
    parser.add_argument("--stage", default=None, help="stage naming the secrets (env CTIBRIDGE_STAGE, dev)")
    parser.add_argument(
        "--ws-callback-url",
        default=None,
        help="@connections endpoint, to close revoked sessions' tabs (env CTIBRIDGE_WS_CALLBACK_URL)",
    )
    parser.add_argument("--json", action="store_true", default=False, help="print JSON")
    parser.add_argument("--local", action="store_true", default=False, help=LOCAL_HELP)
    groups = parser.add_subparsers(
        dest="group", required=True, metavar="{tenant,agent,token,demo,crm,events,pbx,calls}"
    )

    def command(sub: Any, name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        p.set_defaults(func=func)
        return p

    def profile_options(p: argparse.ArgumentParser, *, updating: bool = False) -> None:
        p.add_argument("--name", help="display name of the tenant")
        p.add_argument("--timezone", help="IANA timezone of 'expired' times (default Asia/Ho_Chi_Minh)")
        p.add_argument("--expiry-date", type=_date, help="last day of service, YYYY-MM-DD")
        p.add_argument("--click2call-url", help="the PBX's click2call base URL (seed 004 2.1)")
        p.add_argument("--crm-lookup-url", help="CRM URL for caller lookups")
        p.add_argument("--sip-server", help="SIP registrar host[:port] (sip:EXT@server)")
        p.add_argument("--sip-ws-url", help="SIP over WebSocket URL for the webphone")
        p.add_argument("--sip-realm", help="SIP realm (optional)")
        p.add_argument(
            "--webphone-language",
            choices=WEBPHONE_LANGUAGES,
            help="the webphone's language for agents who have not chosen one (default: the browser's)",
        )
        for stem, _, what in LIST_OPTIONS:
            value = stem.rsplit("-", 1)[-1].upper()
            if not updating:
                p.add_argument(f"--{stem}", action="append", metavar=value, help=f"{what} (repeatable)")
                continue
            lists = p.add_argument_group(f"--{stem} list")
            lists.add_argument(
                f"--{stem}",
                f"--add-{stem}",
                dest=f"add_{_dest(stem)}",
                action="append",
                metavar=value,
                help=f"add an {what} to the list (repeatable; the others stay)",
            )
            lists.add_argument(
                f"--remove-{stem}",
                action="append",
                metavar=value,
                help="remove this value from the list (repeatable)",
            )
            lists.add_argument(
                f"--replace-{stem}s",
                nargs="*",
                metavar=value,
                help="the whole list becomes exactly these values (none: empty it)",
            )
        p.add_argument(
            "--transfer-queue",
            action="append",
            type=_queue_number,
            metavar="QUEUE=NUMBER",
            help="number a call goes to for csTransferCallAcd(QUEUE) (repeatable; replaces the list)",
        )

    tenant = groups.add_parser("tenant", help="tenants (one per PBX customer code)").add_subparsers(
        dest="command", required=True
    )
    p = command(tenant, "create", tenant_create, "create a tenant and its secrets (printed once)")
    p.add_argument("customer", help="customer code (seed 004 {customer}); also the tenant id")
    p.add_argument("--domain", required=True, help="login domain (seeds 001/002 {domain})")
    profile_options(p)
    p.add_argument("--jwt-access-key", help="HS256 access key of CRM logins (default: generated)")
    p.add_argument("--pbx-secret", help="secret of PBX webhooks (default: generated)")
    p.add_argument("--click2call-secret", help="secret of the PBX click2call URL (default: generated)")
    p.add_argument("--crm-secret", help="secret for what is forwarded to the CRM (default: generated)")
    p.add_argument("--api-key", help="CRM API key (default: generated)")

    command(tenant, "list", tenant_list, "list tenants")
    p = command(tenant, "show", tenant_show, "show a tenant and its agents")
    p.add_argument("customer")
    p.add_argument("--show-secrets", action="store_true", help="also print the secrets")
    p = command(tenant, "update", tenant_update, "change a tenant's profile")
    p.add_argument("customer")
    profile_options(p, updating=True)
    p.add_argument("--status", choices=["active", "expired", "suspended"])
    p.add_argument("--no-expiry", action="store_true", help="remove the expiry date")
    p = command(tenant, "expire", tenant_expire, "expire a tenant now, or after a date")
    p.add_argument("customer")
    p.add_argument("--on", type=_date, help="last day of service (default: expire now)")
    p = command(tenant, "rotate-key", tenant_rotate_key, "replace one of a tenant's keys (printed once)")
    p.add_argument("customer")
    p.add_argument(
        "--kind",
        choices=KEY_KINDS,
        default="jwt",
        metavar="{" + ",".join(KEY_KINDS) + "}",
        help="which key (default jwt: the access key)",
    )
    p.add_argument("--keep-old", action="store_true", help="api keys: keep the previous ones working")

    agent = groups.add_parser("agent", help="agents (extensions) of a tenant").add_subparsers(
        dest="command", required=True
    )
    p = command(agent, "add", agent_add, "add an agent (its SIP password is printed once)")
    p.add_argument("customer")
    p.add_argument("ipphone", help="extension")
    p.add_argument("--display-name")
    p.add_argument(
        "--device-type",
        type=int,
        choices=[int(d) for d in DeviceType],
        default=1,
        help="1 browser, 2 softphone/IP phone, 3 mobile",
    )
    p.add_argument("--mobile", help="mobile number for device type 3")
    p.add_argument("--sip-username", help="SIP user (default: the extension)")
    p.add_argument("--sip-password", help="SIP password (default: generated)")
    p = command(agent, "list", agent_list, "list a tenant's agents (or only those given)")
    p.add_argument("customer")
    p.add_argument("ipphone", nargs="*", help="only these extensions")
    p = command(agent, "update", _each_agent(agent_update), "change one or more agents")
    p.add_argument("customer")
    p.add_argument("ipphones", nargs="+", metavar="ipphone", help="extension(s), each changed alike")
    p.add_argument("--display-name")
    p.add_argument("--device-type", type=int, choices=[int(d) for d in DeviceType])
    p.add_argument("--mobile")
    p.add_argument("--clear-mobile", action="store_true")
    p.add_argument("--sip-username")
    p.add_argument("--sip-password")
    p.add_argument("--revoke-sessions", action="store_true", help="log the agent out everywhere")
    p = command(agent, "remove", _each_agent(agent_remove), "remove agents (their sessions stop working)")
    p.add_argument("customer")
    p.add_argument("ipphones", nargs="+", metavar="ipphone", help="extension(s)")

    token = groups.add_parser("token", help="test tokens").add_subparsers(dest="command", required=True)
    p = command(token, "mint", token_mint, "mint a CRM login token as the seeds' PHP demo does")
    p.add_argument("customer")
    p.add_argument("ipphone")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--ttl-seconds", type=_positive_int, default=3600, help="lifetime (default 3600)")
    when.add_argument(
        "--expired", type=_local_datetime, help="'YYYY-MM-DD HH:MM:SS' in the tenant's timezone"
    )
    when.add_argument("--no-expired", action="store_true", help="leave 'expired' out of the payload")

    demo = groups.add_parser("demo", help="the local stack's demo tenant").add_subparsers(
        dest="command", required=True
    )
    command(demo, "seed", demo_seed, "create (idempotently) the demo tenant and agents 101, 102")

    crm.register(groups, command)  # crm endpoint add|list|remove (issue 10)
    events.register(groups, command)  # events replay, events deliveries (issue 10)
    pbx.register(groups, command)  # pbx simulate: play seed 004 calls (issue 5)
    calls.register(groups, command)  # calls list|show: what GET /v1/calls answers
    return parser


# ---------------------------------------------------------------- entry point


def _exit_code(error: CtiError) -> int:
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, Conflict):
        return EXIT_CONFLICT
    if isinstance(error, BadRequest):
        return EXIT_USAGE
    return EXIT_FAILURE


def _aws_message(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code, message = info.get("Code", "Error"), info.get("Message", "")
        if code == "ResourceNotFoundException":
            return f"AWS {code}: {message} (is --table / CTIBRIDGE_TABLE right?)"
        return f"AWS {code}: {message}"
    return f"AWS: {error}"


def _report(err: TextIO, as_json: bool, code: str, message: str) -> None:
    if as_json:
        err.write(json.dumps({"error": {"code": code, "message": message}}) + "\n")
    else:
        err.write(f"ctibridge: error: {code}: {message}\n")


@contextmanager
def _layer_logs_to(err: TextIO) -> Iterator[None]:
    """The layer's Powertools logger writes JSON lines to stdout (CloudWatch's input on Lambda). In the
    CLI, stdout is the command's answer (piped to jq, head...): its warnings go to stderr, no info.
    Restored afterwards (tests call main() in the process that also runs handlers)."""
    from ctibridge.observability import logger

    handler = logger.registered_handler
    level = logger.log_level
    stream = handler.setStream(err) if isinstance(handler, logging.StreamHandler) else None
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
        if stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def _run(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return int(exit_.code or 0)
    as_json = bool(args.json)
    environment = _Environment()
    local_target.honour_aws_region()
    local: local_target.LocalStackState | None = None
    if args.local or environment.local:
        try:
            local = local_target.use_local_stack()
        except local_target.NoLocalStack as error:
            _report(err, as_json, "NO_LOCAL_STACK", str(error))
            return EXIT_AWS
    args.local_stack = local  # events replay (queue URLs) and pbx simulate (HTTP API) read it
    # An explicit option wins; then, with --local, the stack's own values (a CTIBRIDGE_* variable left
    # in the shell for AWS must not leak into a local command); then the environment.
    table = args.table or (local.table if local else environment.table)
    stage = args.stage or (local.stage if local else environment.stage)
    callback_url = args.ws_callback_url or (local.callback_url if local else environment.ws_callback_url)
    if not table and getattr(args, "needs_table", True):  # pbx simulate talks HTTP only
        _report(err, as_json, "USAGE", "no table: pass --table, set CTIBRIDGE_TABLE, or use --local")
        return EXIT_USAGE
    try:
        admin = TenantAdmin(table or "", stage, websocket_callback_url=callback_url)
        args.func(admin, args, _Output(as_json, out))
        out.flush()  # a closed pipe is met here, not at exit
    except CliError as error:
        _report(err, as_json, "USAGE", str(error))
        return error.exit_code
    except CtiError as error:
        _report(err, as_json, error.code, error.message)
        return _exit_code(error)
    except ValidationError as error:
        # Field and reason only: the input may be a secret given on the command line.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
            for e in error.errors(include_input=False)
        )
        _report(err, as_json, "INVALID_VALUE", problems)
        return EXIT_USAGE
    except (ClientError, BotoCoreError) as error:
        _report(err, as_json, "AWS_ERROR", _aws_message(error))
        return EXIT_AWS
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI; answers the exit code (the console script exits with it)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with _layer_logs_to(err):
            return _run(argv, out, err)
    except BrokenPipeError:
        # The reader went away (`ctibridge tenant list | head`): stop quietly, as other shell tools do.
        # stdout is pointed at /dev/null so the interpreter's final flush does not fail again.
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
