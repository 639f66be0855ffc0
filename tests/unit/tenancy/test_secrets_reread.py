"""A cached secret lacking what a request needs is re-read once (``tenants.secrets.reread_secrets``)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from ctibridge.tenants import secrets
from ctibridge.tenants.provisioning import TenantAdmin


def _rotate(admin: TenantAdmin, value: str) -> None:
    current = admin.read_secrets("demo")
    admin.secret_store.write("demo", current.model_copy(update={"pbx_secret": SecretStr(value)}))


def _pbx(value: Any) -> str:
    return str(value.pbx_secret.get_secret_value())


def test_a_cached_copy_is_answered_without_a_read_until_a_request_asks_again(demo: TenantAdmin) -> None:
    # Given the secrets cached, then changed
    cached = secrets.get_secrets("demo")
    _rotate(demo, "second")
    # When a request is satisfied by the cached copy (it asks nothing more), Then it gets the cached copy
    assert _pbx(secrets.get_secrets("demo")) == _pbx(cached)


def test_a_cached_copy_that_does_not_satisfy_is_read_again_once(demo: TenantAdmin) -> None:
    # Given the secrets cached, then rotated
    secrets.get_secrets("demo")
    _rotate(demo, "second")
    # When a request finds the cached copy lacking, Then it gets the new value, which is now cached
    assert _pbx(secrets.reread_secrets("demo")) == "second"
    assert _pbx(secrets.get_secrets("demo")) == "second"


def test_forced_rereads_are_limited_to_one_a_second_per_tenant(demo: TenantAdmin) -> None:
    # Given one forced re-read just done
    secrets.reread_secrets("demo")
    _rotate(demo, "third")
    # When another request, within the second, finds the copy lacking (a wrong PBX secret, say)
    again = secrets.reread_secrets("demo")
    # Then it is answered the cached copy: no second read to Secrets Manager
    assert _pbx(again) != "third"
    # And once the interval has passed, a re-read happens again
    secrets.forget_rereads()
    assert _pbx(secrets.reread_secrets("demo")) == "third"
