"""The demo tenant of the local stack (and of the README's walkthrough); fixed, public values.

Never seed these into a real account: every secret here is published in this file.
"""

from pydantic import SecretStr

from ctibridge.tenants.models import TenantSecrets
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge.tenants.repository import hash_api_key

DEMO_CUSTOMER = "demo"
DEMO_DOMAIN = "demo"
DEMO_JWT_ACCESS_KEY = "demo-access-key"
DEMO_PBX_SECRET = "demo-secret"
DEMO_CLICK2CALL_SECRET = "demo-c2c-secret"
DEMO_CRM_SECRET = "demo-crm-secret"
DEMO_API_KEY = "demo-api-key"
DEMO_ALLOWED_ORIGINS = ["http://127.0.0.1:8080", "http://localhost:8080"]
# ipphone -> (display name, SIP password)
DEMO_AGENTS = {"101": ("Agent 101", "sip-101"), "102": ("Agent 102", "sip-102")}


def _demo_secrets() -> TenantSecrets:
    return TenantSecrets(
        jwt_access_key=SecretStr(DEMO_JWT_ACCESS_KEY),
        pbx_secret=SecretStr(DEMO_PBX_SECRET),
        click2call_secret=SecretStr(DEMO_CLICK2CALL_SECRET),
        crm_secret=SecretStr(DEMO_CRM_SECRET),
        sip_passwords={ext: SecretStr(password) for ext, (_, password) in DEMO_AGENTS.items()},
    )


def seed_demo_tenant(table_name: str, stage: str) -> list[str]:
    """Create what is missing of the demo tenant (the tenant, its demo API key, agents 101/102, its
    secrets, their SIP passwords); answers what was created.

    Idempotent, and leaves what exists as it found it: the profile, CRM endpoints and their secrets,
    rotated keys, agents added by hand and their SIP passwords. Safe at every start of the local stack.
    """
    admin = TenantAdmin(table_name, stage)
    repository = admin.repository
    created: list[str] = []
    tenant = repository.get_tenant(DEMO_CUSTOMER, consistent=True)
    if tenant is None:
        admin.create_tenant(
            DEMO_CUSTOMER,
            DEMO_DOMAIN,
            name="Demo call center",
            allowed_origins=DEMO_ALLOWED_ORIGINS,
            jwt_access_key=DEMO_JWT_ACCESS_KEY,
            pbx_secret=DEMO_PBX_SECRET,
            click2call_secret=DEMO_CLICK2CALL_SECRET,
            crm_secret=DEMO_CRM_SECRET,
            api_key=DEMO_API_KEY,
        )
        created.append("tenant demo")
    elif hash_api_key(DEMO_API_KEY) not in tenant.api_key_hashes:
        repository.add_api_key_hash(DEMO_CUSTOMER, hash_api_key(DEMO_API_KEY))
        created.append("API key")
    for ipphone, (display_name, _) in DEMO_AGENTS.items():
        if repository.get_agent(DEMO_CUSTOMER, ipphone, consistent=True) is None:
            repository.create_agent(DEMO_CUSTOMER, ipphone, display_name=display_name)
            created.append(f"agent {ipphone}")
    # Secrets last, merged: only what is missing is added (a re-seed once wiped the endpoints' secrets).
    current = admin.secret_store.read(DEMO_CUSTOMER)
    if current is None:
        admin.secret_store.write(DEMO_CUSTOMER, _demo_secrets())
        created.append("secrets")
    else:
        missing = {
            ipphone: SecretStr(password)
            for ipphone, (_, password) in DEMO_AGENTS.items()
            if ipphone not in current.sip_passwords
        }
        if missing:
            passwords = {**current.sip_passwords, **missing}
            admin.secret_store.write(DEMO_CUSTOMER, current.model_copy(update={"sip_passwords": passwords}))
            created += [f"SIP password of {ipphone}" for ipphone in missing]
    return created
