"""The fields a client sends in an HTTP request: the query string, a JSON body or a form body
(URL-encoded, or multipart as PHP's ``CURLOPT_POSTFIELDS => array(...)`` sends it).

One reader for every route that takes its fields from the raw request (the seed login, the PBX
webhooks), so every one of them refuses the same bad input the same way: a ``400 VALIDATION_ERROR``
naming the field (``body`` when no field can be named) or ``415 UNSUPPORTED_MEDIA_TYPE``, never a 500
and never a silently altered value:

* text must be UTF-8: a non-UTF-8 value is refused, not stored as U+FFFD replacement characters;
* a field given twice with two different values is refused (API Gateway joins them with a comma,
  which would turn ``callid=1&callid=2`` into a call ``1,2``); the same value twice is one value;
* JSON nested deeper than Python's recursion limit is invalid JSON, not a ``RecursionError``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from ctibridge.errors import BadRequest, CtiError

JSON_MEDIA_TYPES = ("application/json",)
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MULTIPART_MEDIA_TYPE = "multipart/form-data"


class FieldError(BadRequest):
    """A field (or the body) that cannot be read; ``field`` names it for the client.

    ``readable``: the other fields of a form, read all the same, so that a caller that checks
    credentials first (the PBX webhooks: the secret may be one of them) can still answer 401 before 400.
    """

    code = "VALIDATION_ERROR"
    message = "The request is invalid."
    readable: dict[str, str] | None = None


class UnsupportedMediaType(CtiError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    message = "Send the fields as a query string, JSON or a form (URL-encoded or multipart)."
    http_status = 415


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value; API Gateway lowercases names in payload 2.0, other callers may not."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def media_type(headers: Mapping[str, str] | None) -> str:
    """The Content-Type's media type, lowercased, without parameters ("" when absent)."""
    return (header(headers, "content-type") or "").split(";", 1)[0].strip().lower()


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body of an API Gateway (payload 2.0) event as bytes, base64 decoded if need be."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=False)
        except (binascii.Error, ValueError):
            raise FieldError("body: is not valid base64.", field="body") from None
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def text(data: bytes, field: str = "body") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError(f"{field}: is not UTF-8 text.", field=field) from None


def _utf8(value: str, field: str) -> str:
    """``value`` as parse_qsl decoded it with ``surrogateescape``: bytes that were not UTF-8 are lone
    surrogates, which cannot be encoded back."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError(f"{field}: is not UTF-8 text.", field=field) from None
    return value


def _add(fields: dict[str, str], name: str, value: str, repeated: set[str] | None = None) -> None:
    if name in fields:
        if fields[name] != value:
            raise FieldError(f"{name}: is given more than once, with different values.", field=name)
        if repeated is not None:
            repeated.add(name)
    fields[name] = value


def urlencoded_fields(text: str, where: str = "body", repeated: set[str] | None = None) -> dict[str, str]:
    """``a=1&b=2`` as fields, percent-escapes decoded as UTF-8 (a form body, or the query string:
    ``where`` names it when a field's own name cannot be read). The names of fields given more than
    once (with the same value) are added to ``repeated``."""
    fields: dict[str, str] = {}
    problem: FieldError | None = None
    for raw_name, raw_value in parse_qsl(text, keep_blank_values=True, errors="surrogateescape"):
        try:
            name = _utf8(raw_name, where)
            _add(fields, name, _utf8(raw_value, name), repeated)
        except FieldError as error:
            problem = problem or error
    return _complete(fields, problem)


def _complete(fields: dict[str, str], problem: FieldError | None) -> dict[str, str]:
    """``fields``, or ``problem`` raised with them as its readable fields."""
    if problem is not None:
        problem.readable = fields
        raise problem
    return fields


def query_fields(event: Mapping[str, Any]) -> dict[str, str]:
    """The query string's fields: ``queryStringParameters``, as API Gateway decoded them, minus what
    that decoding hid, read from the raw query string: a non-UTF-8 value or a field given twice with
    two values is refused, and a field given twice with one value is that value (not API Gateway's
    ``"v,v"``)."""
    fields = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
    raw = event.get("rawQueryString")
    if isinstance(raw, str) and raw:
        repeated: set[str] = set()
        exact = urlencoded_fields(raw, "query", repeated)
        fields.update({name: exact[name] for name in repeated})
    return fields


def json_document(body: bytes, *, exact_numbers: bool = False) -> Any:
    """A JSON body; ``exact_numbers`` keeps numbers as their literal text (``1565944170.1230``)."""
    document = text(body, "body")
    number: Callable[[str], Any] | None = str if exact_numbers else None
    try:
        return json.loads(document, parse_int=number, parse_float=number)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the interpreter allows
        raise FieldError("body: is not valid JSON.", field="body") from None


def json_object(body: bytes, *, exact_numbers: bool = False) -> dict[str, Any]:
    document = json_document(body, exact_numbers=exact_numbers)
    if not isinstance(document, dict):
        raise FieldError("body: must be a JSON object.", field="body")
    return {str(key): value for key, value in document.items()}


def multipart_fields(body: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body (PHP curl's POSTFIELDS array, HTML forms)."""
    # The stdlib MIME parser, imported on first use: most requests are JSON or query strings.
    from email import policy
    from email.parser import BytesParser

    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("utf-8", errors="replace") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise FieldError("body: the multipart form cannot be parsed.", field="body")
    fields: dict[str, str] = {}
    problem: FieldError | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            try:
                _add(fields, name, text(payload, name))
            except FieldError as error:
                problem = problem or error
    return _complete(fields, problem)


def body_fields(event: Mapping[str, Any], *, exact_numbers: bool = False) -> dict[str, Any]:
    """The fields of the request's body ({} for an empty one), by its Content-Type.

    JSON (``application/json``, ``*+json``, or a body that starts like JSON with no or a ``text/plain``
    type), a URL-encoded form (also assumed for other untyped text) or a multipart form. Raises
    ``FieldError`` (400) or ``UnsupportedMediaType`` (415).
    """
    body = raw_body(event)
    if not body.strip():
        return {}
    headers = event.get("headers") or {}
    media = media_type(headers)
    if media == MULTIPART_MEDIA_TYPE:
        return multipart_fields(body, header(headers, "content-type") or "")
    if media in JSON_MEDIA_TYPES or media.endswith("+json"):
        return json_object(body, exact_numbers=exact_numbers)
    if media in (FORM_MEDIA_TYPE, "", "text/plain"):
        if media != FORM_MEDIA_TYPE and body.lstrip().startswith((b"{", b"[")):
            return json_object(body, exact_numbers=exact_numbers)
        return urlencoded_fields(text(body, "body"))
    raise UnsupportedMediaType()
