"""Tenants and agents in the table: aliases, listing without Scan, cached lookups, secrets."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from ctibridge import keys
from ctibridge.errors import BadRequest
from ctibridge.tenants import repository
from ctibridge.tenants.models import DeviceType, Tenant, TenantStatus
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge.tenants.repository import AgentExists, ApiKeyTaken, DomainTaken, TenantExists, TenantNotFound
from ctibridge.tenants.secrets import SecretsUnavailable, get_secrets, secret_name
from tests.unit.tenancy.conftest import STAGE


def test_created_tenant_is_found_by_customer_domain_and_api_key(admin: TenantAdmin, table: Any) -> None:
    # Given a tenant created with generated secrets
    created = admin.create_tenant("cust-1", "Shop.Example", allowed_origins=["https://crm.example"])
    # Then each of its names leads to it
    by_customer = repository.get_by_customer("cust-1")
    assert by_customer is not None
    assert by_customer.domain == "shop.example"
    assert by_customer.allowed_origins == ["https://crm.example"]
    assert by_customer.timezone == "Asia/Ho_Chi_Minh"
    assert repository.get_by_domain("SHOP.example") == by_customer
    assert repository.get_by_api_key(created.api_key) == by_customer
    assert repository.get_by_api_key(created.api_key + "x") is None
    # And the API key is stored only as its hash
    alias = table.get_item(Key=keys.api_key_alias(repository.hash_api_key(created.api_key)))["Item"]
    profile = table.get_item(Key=keys.tenant("cust-1"))["Item"]
    assert alias["tenant_id"] == "cust-1"
    assert created.api_key not in json.dumps([alias, profile], default=str)
    # And no secret is in the table
    for value in created.secrets.plain().values():
        if isinstance(value, str):
            assert value not in json.dumps(profile, default=str)


def test_secrets_are_read_through_powertools(admin: TenantAdmin) -> None:
    created = admin.create_tenant("cust-1", "shop")
    secrets = get_secrets("cust-1")
    assert secrets.jwt_access_key.get_secret_value() == created.secrets.jwt_access_key.get_secret_value()
    assert len(secrets.jwt_access_key.get_secret_value()) >= 32
    assert secret_name(STAGE, "cust-1") == f"ctibridge/{STAGE}/tenants/cust-1"


def test_malformed_secret_is_unavailable_without_revealing_it(admin: TenantAdmin) -> None:
    admin.create_tenant("cust-1", "shop")
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret_name(STAGE, "cust-1"), SecretString=json.dumps({"jwt_access_key": "leaky-value"})
    )
    with pytest.raises(SecretsUnavailable) as caught:
        get_secrets("cust-1")
    assert "leaky-value" not in str(caught.value)
    assert "pbx_secret" in str(caught.value)


def test_duplicates_are_refused(admin: TenantAdmin) -> None:
    created = admin.create_tenant("cust-1", "shop")
    with pytest.raises(TenantExists):
        admin.create_tenant("cust-1", "other-shop")
    with pytest.raises(DomainTaken):
        admin.create_tenant("cust-2", "SHOP")
    with pytest.raises(ApiKeyTaken):
        admin.create_tenant("cust-3", "third", api_key=created.api_key)
    # And the refused tenants left nothing behind
    assert repository.get_by_customer("cust-2") is None
    assert repository.get_by_customer("cust-3") is None
    assert [t.tenant_id for t in admin.list_tenants()] == ["cust-1"]


@pytest.mark.parametrize(
    ("customer", "domain", "extra"),
    [
        ("bad customer", "shop", {}),
        ("cust", "shop/evil", {}),
        ("cust", "shop", {"timezone": "Mars/Olympus"}),
    ],
)
def test_invalid_tenant_values_are_refused(
    admin: TenantAdmin, customer: str, domain: str, extra: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        admin.create_tenant(customer, domain, **extra)
    assert admin.list_tenants() == []


def test_pem_access_key_is_refused(admin: TenantAdmin) -> None:
    with pytest.raises(BadRequest):
        admin.create_tenant(
            "cust", "shop", jwt_access_key="-----BEGIN PUBLIC KEY-----\nMIIB...\n-----END PUBLIC KEY-----"
        )


def test_tenant_list_uses_the_index(admin: TenantAdmin) -> None:
    for n in range(3):
        admin.create_tenant(f"cust-{n}", f"shop-{n}")
    assert sorted(t.tenant_id for t in repository.list_tenants()) == ["cust-0", "cust-1", "cust-2"]


def test_update_and_expire(admin: TenantAdmin) -> None:
    admin.create_tenant("cust-1", "shop")
    endpoint = {"id": "main", "url": "https://crm.example.com/hooks/calls"}
    updated = admin.update_tenant(
        "cust-1", timezone="UTC", callout_deny_prefixes=["1900"], crm_endpoints=[endpoint]
    )
    assert updated.timezone == "UTC"
    stored = admin.get_tenant("cust-1")
    assert stored.callout_deny_prefixes == ["1900"]
    assert [(e.id, e.url) for e in stored.crm_endpoints] == [("main", endpoint["url"])]
    assert stored.crm_endpoints == updated.crm_endpoints
    with pytest.raises(BadRequest):
        admin.update_tenant("cust-1", domain="elsewhere")
    with pytest.raises(TenantNotFound):
        admin.update_tenant("nobody", timezone="UTC")
    # Scheduled expiry keeps the tenant active until then; expiry now flips the status
    tomorrow = date.today() + timedelta(days=2)
    assert admin.expire("cust-1", on=tomorrow).is_active()
    expired = admin.expire("cust-1")
    assert expired.status is TenantStatus.EXPIRED
    assert not expired.is_active()


def test_is_active_uses_the_tenants_local_date() -> None:
    # Given a tenant whose last day is 2030-01-01 in Vietnam (UTC+7)
    tenant = Tenant(tenant_id="t", domain="t", expiry_date=date(2030, 1, 1))
    # Then it is open until 16:59 UTC that day; at 17:00 UTC it is 2030-01-02 there: expired
    assert tenant.is_active(datetime(2030, 1, 1, 16, 59, tzinfo=UTC))
    assert not tenant.is_active(datetime(2030, 1, 1, 17, 0, tzinfo=UTC))


def test_agents_crud_and_user_ids(admin: TenantAdmin) -> None:
    admin.create_tenant("cust-1", "shop")
    first, password = admin.add_agent("cust-1", "101", display_name="Lan")
    second, _ = admin.add_agent("cust-1", "102", device_type=DeviceType.MOBILE, mobile="0912345678")
    # Each agent gets its own numeric user id, and a generated SIP password kept in the secret
    assert first.user_id != second.user_id
    assert len(password) >= 16
    stored = admin.read_secrets("cust-1").sip_password("101")
    assert stored is not None
    assert stored.get_secret_value() == password
    assert second.sip_username == "102"
    assert [a.ipphone for a in repository.list_agents("cust-1")] == ["101", "102"]
    with pytest.raises(AgentExists):
        admin.add_agent("cust-1", "101")
    # The refused duplicate did not overwrite the SIP password
    again = admin.read_secrets("cust-1").sip_password("101")
    assert again is not None
    assert again.get_secret_value() == password
    # Updates, including removing the mobile number
    updated = admin.update_agent("cust-1", "102", changes={"display_name": "Minh", "mobile": None})
    assert (updated.display_name, updated.mobile) == ("Minh", None)
    assert repository.get_agent("cust-1", "102") == updated
    # Removal also forgets the SIP password
    admin.remove_agent("cust-1", "101")
    assert repository.get_agent("cust-1", "101") is None
    assert admin.read_secrets("cust-1").sip_password("101") is None


def test_agent_of_unknown_tenant_is_refused(admin: TenantAdmin) -> None:
    with pytest.raises(TenantNotFound):
        admin.repository.create_agent("nobody", "101")


def test_tenant_lookups_are_cached(admin: TenantAdmin, table: Any) -> None:
    # Given a tenant read once by domain
    admin.create_tenant("cust-1", "shop")
    first = repository.get_by_domain("shop")
    # When its items disappear from the table
    table.delete_item(Key=keys.domain_alias("shop"))
    table.delete_item(Key=keys.tenant("cust-1"))
    # Then the cached tenant is still answered (no DynamoDB read), until the cache is cleared
    assert repository.get_by_domain("shop") == first
    assert repository.get_by_customer("cust-1") == first
    repository.clear_cache()
    assert repository.get_by_domain("shop") is None


def test_invalid_names_cost_no_read(admin: TenantAdmin, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("DynamoDB was read")

    monkeypatch.setattr(repository.TenantRepository, "get_tenant", no_read)
    monkeypatch.setattr(repository.TenantRepository, "tenant_id_for_domain", no_read)
    assert repository.get_by_customer("../etc") is None
    assert repository.get_by_domain("a b") is None
    assert repository.get_agent("t", "1 OR 1=1") is None
