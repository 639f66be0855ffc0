"""The seeds' call-out error codes (seed 000/001/002 appendix), as domain errors.

The codes are the contract: a CRM written for VCC/3C branches on them in ``showCalloutError``.
"""

from ctibridge.errors import CtiError


class CalloutError(CtiError):
    """Base of every call-out failure."""


class AgentNotConnected(CalloutError):
    code = "IPCC_NOT_CONNECT_AGENT_ID"
    message = "The agent's phone is not connected: check the webphone tab, IP phone or softphone."
    http_status = 409


class UnknownAgent(AgentNotConnected):
    """Same seed code as an offline agent (the CRM's handling is the same), but 404: no such agent."""

    message = "No such agent in this tenant."
    http_status = 404


class AgentBusy(CalloutError):
    code = "CALLOUT_AGENT_BUSY"
    message = "The agent is already in a call."
    http_status = 409


class PermissionDenied(CalloutError):
    code = "CALLOUT_PERMISSION_DENY"
    message = "Calling out is not allowed here; ask an administrator."
    http_status = 403


class PbxUnreachable(CalloutError):
    code = "ERROR_CALLOUT_CONNECT"
    message = "The PBX could not be reached to place the call."
    http_status = 502


class InvalidPhone(CalloutError):
    code = "INVALID_PHONE_NUMBER"
    message = "The phone number is not a number that can be dialled."
    http_status = 400


class OutboundRequestNotFound(CalloutError):
    code = "OUTBOUND_REQUEST_NOT_FOUND"
    message = "No such click-to-call request."
    http_status = 404


# What the webphone reports with a SIP code (seed table rows 1-7).
CUSTOMER_NOT_CONNECTED = "IPCC_NOT_CONNECT_CUSTOMER"
SEED_SIP_CODES = (404, 486, 408, 403, 487, 480)
KNOWN_RESULT_CODES = frozenset(
    {
        CUSTOMER_NOT_CONNECTED,
        AgentNotConnected.code,
        AgentBusy.code,
        PermissionDenied.code,
        PbxUnreachable.code,
    }
)
