"""What the agent's webphone needs to register with the tenant's PBX (seed 000, "login info")."""

from typing import Any

from ctibridge.tenants.models import Agent, Tenant, TenantSecrets


def sip_uri(tenant: Tenant, agent: Agent) -> str:
    return f"sip:{agent.sip_username}@{tenant.sip_server}"


def webphone_config(tenant: Tenant, agent: Agent, secrets: TenantSecrets) -> dict[str, Any]:
    """JsSIP settings for this agent, including the SIP password: answer it only to the agent's session."""
    password = secrets.sip_password(agent.ipphone)
    host = tenant.sip_server.rsplit(":", 1)[0] if tenant.sip_server.count(":") == 1 else tenant.sip_server
    return {
        "websocket_server_url": tenant.sip_ws_url,
        "ice_servers": tenant.ice_servers,
        "display_name": agent.display_name,
        "private_identity": agent.sip_username,
        "public_identity": sip_uri(tenant, agent),
        "sip_uri": sip_uri(tenant, agent),
        "password": password.get_secret_value() if password else None,
        "realm": tenant.sip_realm or host,
        # The page's default language (the agent's own choice in Settings wins); None: the browser's.
        "language": tenant.webphone_language,
    }
