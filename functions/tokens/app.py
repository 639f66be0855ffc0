"""``POST /v1/tokens``: a CRM login token minted for CRMs that would rather not write JWT code.

``X-Api-Key: <key>`` (or ``Authorization: Bearer <key>``), body ``{"ipphone": "101", "ttl_seconds": 3600}``
→ ``{"token": "<JWT>", "expired": "Y-m-d H:i:s"}``; the token is what the CRM would have signed itself,
so it goes to ``/{domain}/thirdParty/login`` or to the SDK's ``csInit(token, domain)`` unchanged.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ConfigDict, Field, field_validator

from ctibridge.auth.api_keys import tenant_for_request
from ctibridge.auth.minting import mint_login_token
from ctibridge.http_api import APIGatewayHttpResolver
from ctibridge.http_errors import parse_json_body, register_error_handlers, resolve
from ctibridge.model import Model
from ctibridge.observability import log_metrics, logger
from ctibridge.tenants.models import IPPHONE_PATTERN

# No enable_validation: no route here takes typed query or body parameters (bodies are parsed by our
# models), and Powertools' validation would build its TypeAdapters on the first event (~40 ms cold).
app = APIGatewayHttpResolver()
register_error_handlers(app)


class MintRequest(Model):
    model_config = ConfigDict(extra="forbid")

    ipphone: str = Field(pattern=IPPHONE_PATTERN)
    ttl_seconds: int = Field(default=3600, ge=60)

    @field_validator("ipphone", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # CRMs written in PHP often send the extension as a number.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


@app.post("/v1/tokens")
def mint() -> dict[str, Any]:
    # Authenticate first, then read the body: an anonymous caller learns nothing, not even the schema.
    tenant = tenant_for_request(app.current_event.headers)
    logger.append_keys(tenant=tenant.tenant_id)
    request = parse_json_body(MintRequest, app.current_event.decoded_body)
    minted = mint_login_token(tenant, request.ipphone, request.ttl_seconds)
    logger.info("login token minted", extra={"ipphone": request.ipphone, "ttl_seconds": request.ttl_seconds})
    return {
        "token": minted.token,
        "expired": minted.expired,
        "expires_at": int(minted.expires_at.timestamp()),
        "domain": tenant.domain,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
