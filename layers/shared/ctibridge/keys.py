"""Key builders for the single table: every item type's PK/SK (and index keys) live here.

| item          | PK                           | SK              | notes                                          |
|---------------|------------------------------|-----------------|------------------------------------------------|
| connection    | CONN#{connection_id}         | CONN            | TTL; -> tenant, ipphone, tab (issue 6)         |
| agent tab     | TENANT#{t}#AGENT#{ipphone}   | CONN#{conn_id}  | TTL; Query begins_with CONN#: an agent's tabs  |
| agent state   | TENANT#{t}#AGENT#{ipphone}   | STATE           | ready, device, voice holder, call state        |
| tenant        | TENANT#{tenant_id}           | PROFILE         | GSI1 TENANT / TENANT#{tenant_id}: tenant list  |
| agent         | TENANT#{tenant_id}           | AGENT#{ipphone} | Query begins_with AGENT#: a tenant's agents    |
| domain alias  | DOMAIN#{domain}              | ALIAS           | -> tenant_id (seed login /{domain}/...)        |
| API key alias | APIKEY#{sha256(key)}         | ALIAS           | -> tenant_id; the key itself is never stored   |
| session       | SESSION#{sha256(token)}      | SESSION         | TTL expires_at; the token is never stored      |
| login         | LOGIN#{session_id}           | LOGIN           | TTL; hashes of every token of one login        |
| login failures| LOGINFAIL#{domain}#{ipphone}@{ip} | WINDOW#{n} | TTL; one counter per window and address  |
| call          | TENANT#{t}#CALL#{callid}     | CALL            | GSI1 TENANT#{t}#CALLS / {started_at}#{callid}  |
|               |                              |                 | GSI2 TENANT#{t}#PHONE#{e164} / same sort key   |
|               |                              |                 | GSI3 TENANT#{t}#EXT#{extension} / same         |
| ended call    | TENANT#{t}#CALL#{callid}     | ENDED#AGENT#{x} | TTL; a late ring of an agent's ended call is   |
|               |                              |                 | ignored (realtime.presence)                    |
| delivery state| TENANT#{t}#DELIVERY#{dlv_id} | STATE           | TTL; one event to one CRM endpoint (issue 10)  |
|               |                              |                 | GSI3 TENANT#{t}#DELIVERY_STATES / {occurred}#id|
| delivery try  | TENANT#{t}#DELIVERY#{dlv_id} | ATTEMPT#{n}#{i} | TTL; GSI1 TENANT#{t}#DELIVERIES#{status} and   |
|               |                              |                 | GSI2 TENANT#{t}#DELIVERIES / {at}#{id}#{n}#{i} |
| click-to-call | TENANT#{t}#OUTBOUND#{req_id} | OUTBOUND        | TTL; one click-to-call request (issue 7)       |
| transfer      | TENANT#{t}#TRANSFER#{tr_id}  | TRANSFER        | TTL; one agent-to-agent transfer (issue 9)     |
"""

# ruff: noqa: E501  (the table above is wider than the line limit; keeping it a table matters more)


def connection(connection_id: str) -> dict[str, str]:
    return {"PK": f"CONN#{connection_id}", "SK": "CONN"}


# ---------------------------------------------------------------- tenants, agents, sessions (issue 4)
# tenant_id is the customer code of seed 004 ({customer} in /wsapi/{customer}/...).

TENANT_LIST_PARTITION = "TENANT"  # GSI1PK shared by every tenant profile: the tenant list, no Scan
AGENT_SK_PREFIX = "AGENT#"


def tenant(tenant_id: str) -> dict[str, str]:
    return {"PK": f"TENANT#{tenant_id}", "SK": "PROFILE"}


def tenant_list_index(tenant_id: str) -> dict[str, str]:
    """GSI1 attributes that put a tenant profile in the tenant list."""
    return {"GSI1PK": TENANT_LIST_PARTITION, "GSI1SK": f"TENANT#{tenant_id}"}


def agent(tenant_id: str, ipphone: str) -> dict[str, str]:
    return {"PK": f"TENANT#{tenant_id}", "SK": f"{AGENT_SK_PREFIX}{ipphone}"}


def domain_alias(domain: str) -> dict[str, str]:
    return {"PK": f"DOMAIN#{domain}", "SK": "ALIAS"}


def api_key_alias(key_sha256: str) -> dict[str, str]:
    return {"PK": f"APIKEY#{key_sha256}", "SK": "ALIAS"}


def session(token_sha256: str) -> dict[str, str]:
    return {"PK": f"SESSION#{token_sha256}", "SK": "SESSION"}


def login(session_id: str) -> dict[str, str]:
    """One login (``Session.session_id``): the hashes of all its tokens, so a logout ends each of them."""
    return {"PK": f"LOGIN#{session_id}", "SK": "LOGIN"}


def login_failures(domain: str, subject: str, window: int) -> dict[str, str]:
    """``subject``: who is throttled (``auth.throttle``: the claimed ipphone and the source address)."""
    return {"PK": f"LOGINFAIL#{domain}#{subject}", "SK": f"WINDOW#{window}"}


# ---------------------------------------------------------------- call logs (issue 5)
# One item per call, keyed by tenant + the PBX's callid; the three PBX events update it in place.
# The index sort keys are "{started_at}#{callid}" with started_at a fixed-width UTC timestamp
# (YYYY-MM-DDTHH:MM:SS.mmmZ) so string order is time order; the callid suffix keeps keys unique.

CALL_SK = "CALL"
CALL_INDEX_BY_DATE = "GSI1"
CALL_INDEX_BY_PHONE = "GSI2"
CALL_INDEX_BY_EXTENSION = "GSI3"


def call(tenant_id: str, callid: str) -> dict[str, str]:
    return {"PK": f"TENANT#{tenant_id}#CALL#{callid}", "SK": CALL_SK}


def call_pk_prefix(tenant_id: str) -> str:
    """Every call PK of ``tenant_id`` starts with this (used to validate pagination cursors)."""
    return f"TENANT#{tenant_id}#CALL#"


def call_sort_key(started_at: str, callid: str) -> str:
    return f"{started_at}#{callid}"


def calls_by_date_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#CALLS"


def calls_by_phone_pk(tenant_id: str, phone_key: str) -> str:
    return f"TENANT#{tenant_id}#PHONE#{phone_key}"


def calls_by_extension_pk(tenant_id: str, extension: str) -> str:
    return f"TENANT#{tenant_id}#EXT#{extension}"


# ---------------------------------------------------------------- real-time presence (issue 6)
# One partition per agent holds its open WebSocket tabs and its presence state: a ring popup's
# fan-out is one strongly consistent Query (no Scan, no index lag), and a connect writes the tab and
# the state in one transaction. CONN#{connection_id}/CONN is the reverse item $disconnect and the
# message routes read (they only know the connection id).

AGENT_CONN_SK_PREFIX = "CONN#"
AGENT_STATE_SK = "STATE"


def agent_partition(tenant_id: str, ipphone: str) -> str:
    return f"TENANT#{tenant_id}#AGENT#{ipphone}"


def agent_connection(tenant_id: str, ipphone: str, connection_id: str) -> dict[str, str]:
    return {"PK": agent_partition(tenant_id, ipphone), "SK": f"{AGENT_CONN_SK_PREFIX}{connection_id}"}


def agent_state(tenant_id: str, ipphone: str) -> dict[str, str]:
    return {"PK": agent_partition(tenant_id, ipphone), "SK": AGENT_STATE_SK}


def agent_ended_call(tenant_id: str, ipphone: str, callid: str) -> dict[str, str]:
    """Marker of a call that ended for an agent (TTL): late events of that call must not start it again.

    In the call's partition, not the agent's: the agent's partition is Queried for its tabs on every
    popup, and one marker per call would make it grow with the agent's call count.
    """
    return {"PK": call(tenant_id, callid)["PK"], "SK": f"ENDED#AGENT#{ipphone}"}


# ---------------------------------------------------------------- CRM delivery (issue 10)
# One partition per delivery (one event to one CRM endpoint): its STATE (lease, delivered or not, the
# event for replays) and one ATTEMPT item per HTTP request. Attempts are listed per tenant and status
# (GSI1, GET /v1/deliveries?status=failed) or all together (GSI2); states by event time (GSI3, the
# replay of a time range). Sort keys start with a fixed-width UTC timestamp: string order is time order.

DELIVERY_STATE_SK = "STATE"
DELIVERY_ATTEMPT_SK_PREFIX = "ATTEMPT#"
DELIVERY_INDEX_BY_STATUS = "GSI1"
DELIVERY_INDEX_ALL = "GSI2"
DELIVERY_STATE_INDEX = "GSI3"


def delivery_partition(tenant_id: str, delivery_id: str) -> str:
    return f"TENANT#{tenant_id}#DELIVERY#{delivery_id}"


def delivery_partition_prefix(tenant_id: str) -> str:
    """Every delivery PK of ``tenant_id`` starts with this (used to validate pagination cursors)."""
    return f"TENANT#{tenant_id}#DELIVERY#"


def delivery_state(tenant_id: str, delivery_id: str) -> dict[str, str]:
    return {"PK": delivery_partition(tenant_id, delivery_id), "SK": DELIVERY_STATE_SK}


def delivery_attempt(tenant_id: str, delivery_id: str, attempt: int, target: int) -> dict[str, str]:
    sk = f"{DELIVERY_ATTEMPT_SK_PREFIX}{attempt:05d}#{target}"
    return {"PK": delivery_partition(tenant_id, delivery_id), "SK": sk}


def deliveries_by_status_pk(tenant_id: str, status: str) -> str:
    return f"TENANT#{tenant_id}#DELIVERIES#{status}"


def deliveries_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#DELIVERIES"


def delivery_states_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#DELIVERY_STATES"


def delivery_attempt_sort_key(attempted_at: str, delivery_id: str, attempt: int, target: int) -> str:
    return f"{attempted_at}#{delivery_id}#{attempt:05d}#{target}"


def delivery_state_sort_key(occurred_at: str, delivery_id: str) -> str:
    return f"{occurred_at}#{delivery_id}"


def outbound_request(tenant_id: str, request_id: str) -> dict[str, str]:
    return {"PK": f"TENANT#{tenant_id}#OUTBOUND#{request_id}", "SK": "OUTBOUND"}


def transfer(tenant_id: str, transfer_id: str) -> dict[str, str]:
    """One agent-to-agent call transfer request (seed 002), answered or expired within seconds."""
    return {"PK": f"TENANT#{tenant_id}#TRANSFER#{transfer_id}", "SK": "TRANSFER"}
