"""Domain exceptions with stable codes; turned into HTTP answers once, in ``ctibridge.http_errors``.

Raise them deep in the logic; handlers never build error bodies themselves. ``code`` is part of the
public contract (CRMs branch on it), ``message`` is for humans and may change.
"""

from typing import Any


class CtiError(Exception):
    """Base of every domain error: a stable ``code``, a human ``message`` and the HTTP status."""

    code: str = "ERROR"
    message: str = "The request failed."
    http_status: int = 500

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        # Instance attributes shadow the class defaults, so one class can carry several codes.
        self.code = code or type(self).code
        self.message = message or type(self).message
        self.headers: dict[str, str] = headers or {}
        # Extra JSON fields of the answer (e.g. "field"); never put secrets here.
        self.details: dict[str, Any] = details
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class BadRequest(CtiError):
    code = "BAD_REQUEST"
    message = "The request is malformed."
    http_status = 400


class Unauthorized(CtiError):
    code = "UNAUTHORIZED"
    message = "Authentication is required."
    http_status = 401


class Forbidden(CtiError):
    code = "FORBIDDEN"
    message = "This action is not allowed."
    http_status = 403


class NotFound(CtiError):
    code = "NOT_FOUND"
    message = "Not found."
    http_status = 404


class Conflict(CtiError):
    code = "CONFLICT"
    message = "The resource already exists or changed meanwhile."
    http_status = 409


class PayloadTooLarge(CtiError):
    code = "PAYLOAD_TOO_LARGE"
    message = "The request body is too large."
    http_status = 413


class TooManyRequests(CtiError):
    code = "TOO_MANY_REQUESTS"
    message = "Too many requests; retry later."
    http_status = 429


class InternalError(CtiError):
    code = "INTERNAL_ERROR"
    message = "System error; try again later."
    http_status = 500


class BackendUnavailable(CtiError):
    """AWS throttled us or could not be reached: nothing was written, the caller should retry."""

    code = "BACKEND_UNAVAILABLE"
    message = "The service is briefly unavailable; retry shortly."
    http_status = 503


# ------------------------------------------------------------ the seed login's answers (seeds 001/002)
# The seeds fix the HTTP statuses (404, 405, 401, 400, 500); the codes are ours and stable.


class DomainNotFound(NotFound):
    code = "DOMAIN_NOT_FOUND"
    message = "Domain not found."


class DomainExpired(CtiError):
    # 405 is the seeds' status for "domain expired", odd as it is for HTTP: CRMs written against the
    # vendors test for it.
    code = "DOMAIN_EXPIRED"
    message = "The domain has expired."
    http_status = 405


class TokenInvalid(Unauthorized):
    code = "TOKEN_INVALID"
    message = "The token is invalid."


class TokenExpired(Unauthorized):
    code = "TOKEN_EXPIRED"
    message = "The token has expired."


class IpphoneNotFound(BadRequest):
    code = "IPPHONE_NOT_FOUND"
    message = "The ipphone does not exist."


class TooManyAttempts(TooManyRequests):
    code = "TOO_MANY_ATTEMPTS"
    message = "Too many failed logins; retry later."
