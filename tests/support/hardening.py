"""Helpers of the hardening tests and benchmarks: tenants provisioned on a running local stack, their
credentials, logins, and a test's view of the table.

The test process talks to the stack's moto server with the product's own provisioning code
(``TenantAdmin``), as ``ctibridge`` with ``AWS_ENDPOINT_URL`` would.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning

from tests.support.local_stack import REGION, RunningStack

_AWS_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@contextmanager
def stack_environment(stack: RunningStack) -> Iterator[None]:
    """This process's AWS calls go to the stack's moto (restored afterwards)."""
    saved = {name: os.environ.get(name) for name in (*_AWS_ENV, "AWS_PROFILE", "TABLE_NAME", "STAGE")}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": stack.moto_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "TABLE_NAME": stack.table_name,
            "STAGE": stack.stage,
        }
    )
    forget_caches()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        forget_caches()


def forget_caches() -> None:
    from aws_lambda_powertools.utilities import parameters

    from ctibridge import aws
    from ctibridge.settings import get_settings
    from ctibridge.tenants import repository

    get_settings.cache_clear()
    aws.reset()
    repository.clear_cache()
    parameters.clear_caches()


@dataclass
class Tenant:
    """A tenant provisioned for a test, with every secret it was given (to look for in the logs)."""

    customer: str
    domain: str
    access_key: str
    pbx_secret: str
    api_key: str
    click2call_secret: str
    crm_secret: str
    sip_passwords: dict[str, str] = field(default_factory=dict)
    timezone: str = "Asia/Ho_Chi_Minh"
    other_secrets: list[str] = field(default_factory=list)  # e.g. a CRM endpoint's signing secret

    @property
    def secrets(self) -> list[str]:
        return [
            self.access_key,
            self.pbx_secret,
            self.api_key,
            self.click2call_secret,
            self.crm_secret,
            *self.sip_passwords.values(),
            *self.other_secrets,
        ]


def provision(
    stack: RunningStack, customer: str, agents: list[str], *, expired: bool = False, **profile: Any
) -> Tenant:
    """Create ``customer`` (domain = customer) with ``agents`` on the stack; call inside stack_environment."""
    from ctibridge.tenants.provisioning import TenantAdmin

    admin = TenantAdmin(stack.table_name, stack.stage)
    created = admin.create_tenant(customer, customer, **profile)
    secrets = created.secrets
    tenant = Tenant(
        customer=customer,
        domain=customer,
        access_key=secrets.jwt_access_key.get_secret_value(),
        pbx_secret=secrets.pbx_secret.get_secret_value(),
        api_key=created.api_key,
        click2call_secret=secrets.click2call_secret.get_secret_value(),
        crm_secret=secrets.crm_secret.get_secret_value(),
        timezone=created.tenant.timezone,
    )
    for ipphone in agents:
        _, password = admin.add_agent(customer, ipphone, display_name=f"Agent {ipphone}")
        tenant.sip_passwords[ipphone] = password
    if expired:
        admin.expire(customer)
    return tenant


def login_token(tenant: Tenant, ipphone: str, *, hours: float = 8, key: str | None = None) -> str:
    """The CRM's login JWT (seeds 001/002), ``expired`` ``hours`` from now in the tenant's timezone."""
    zone = ZoneInfo(tenant.timezone)
    expired = (datetime.now(zone) + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(
            {"ipphone": ipphone, "expired": expired}, key or tenant.access_key, algorithm="HS256"
        )


def login(client: httpx.Client, stack: RunningStack, tenant: Tenant, ipphone: str) -> str:
    """The seed login; answers the session token (``user.token``)."""
    answer = client.post(
        f"{stack.http_url}/{tenant.domain}/thirdParty/login", json={"token": login_token(tenant, ipphone)}
    )
    answer.raise_for_status()
    return str(answer.json()["user"]["token"])


def table_items(stack: RunningStack) -> list[dict[str, Any]]:
    """Every item of the stack's table, as low-level attribute maps.

    A test's view only: the product never scans (CONVENTIONS.md); tests need to see rows nobody has a key
    for, such as a row a rejected request should not have written.
    """
    dynamodb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.table_name, ConsistentRead=True):
        items += page["Items"]
    return items


def item_key(item: dict[str, Any]) -> tuple[str, str]:
    return (item["PK"]["S"], item["SK"]["S"])


def tamper(secret: str) -> str:
    """``secret`` with one character changed (same length, same alphabet where possible)."""
    middle = len(secret) // 2
    replacement = "A" if secret[middle] != "A" else "B"
    return secret[:middle] + replacement + secret[middle + 1 :]
