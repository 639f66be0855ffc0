"""The local stack's AWS fault proxy, its pure parts: commands, request heads, the throttling answers
(read back by botocore's own parsers, as the functions' clients read them). The proxy on sockets is
tested in tests/integration/hardening/test_fault_proxy.py."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from ctibridge.http_errors import is_backend_unavailable
from ctibridge_local.fault_proxy import DEFAULT_SLOW_SECONDS, FaultMode, RequestHead, throttle_response


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"mode": "pass"}, FaultMode("pass")),
        ({"mode": "down"}, FaultMode("down")),
        ({"mode": "throttle"}, FaultMode("throttle")),
        ({"mode": "slow"}, FaultMode("slow", DEFAULT_SLOW_SECONDS)),
        ({"mode": "slow", "delay_seconds": 0.25}, FaultMode("slow", 0.25)),
        ({"mode": "slow", "delay_seconds": 3}, FaultMode("slow", 3.0)),
    ],
)
def test_a_command_names_a_mode_and_optionally_a_delay(payload: dict[str, Any], expected: FaultMode) -> None:
    # Given a command as the control endpoint receives it; When it is parsed; Then it is that mode
    assert FaultMode.parse(payload) == expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "JSON object"),
        (["down"], "JSON object"),
        ({}, "mode"),
        ({"mode": "broken"}, "mode"),
        ({"mode": "slow", "delay_seconds": -1}, "delay_seconds"),
        ({"mode": "slow", "delay_seconds": 61}, "delay_seconds"),
        ({"mode": "slow", "delay_seconds": "2"}, "delay_seconds"),
        ({"mode": "slow", "delay_seconds": True}, "delay_seconds"),
        ({"mode": "down", "services": ["s3"]}, "unknown field"),
    ],
)
def test_a_bad_command_is_refused_with_the_reason(payload: Any, reason: str) -> None:
    # Given a malformed command; When it is parsed; Then it is refused, saying what is wrong
    with pytest.raises(ValueError, match=reason):
        FaultMode.parse(payload)


def _head(method: str, *headers: str) -> RequestHead:
    lines = [f"{method} / HTTP/1.1", *headers, "", ""]
    return RequestHead.parse("\r\n".join(lines).encode())


@pytest.mark.parametrize(
    ("head", "readable"),
    [
        (_head("POST", "Content-Length: 12"), True),
        (_head("GET", "Host: x"), True),  # no body at all
        (_head("PUT", "Transfer-Encoding: chunked"), False),
        (_head("PUT", "Content-Length: 9", "Expect: 100-continue"), False),
        (_head("PUT", "Content-Length: nine"), False),
    ],
)
def test_a_body_is_skipped_only_when_its_end_is_known(head: RequestHead, readable: bool) -> None:
    # Given a request head; Then throttle mode keeps the connection only if it can read the body past
    assert head.body_is_readable is readable


def _parse(raw: bytes, service: str, operation: str) -> dict[str, Any]:
    """``raw`` (an HTTP answer) read by botocore as the ``service`` client reads ``operation``'s answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    model = botocore.session.get_session().get_service_model(service)
    answer = {"status_code": int(status_line.split()[1]), "headers": headers, "body": body}
    output_shape = model.operation_model(operation).output_shape
    assert output_shape is not None
    parsed: dict[str, Any] = create_parser(model.protocol).parse(answer, output_shape)
    return parsed


@pytest.mark.parametrize(
    ("service", "operation", "target", "code", "status"),
    [
        ("dynamodb", "UpdateItem", "DynamoDB_20120810.UpdateItem", "ThrottlingException", 400),
        ("secretsmanager", "GetSecretValue", "secretsmanager.GetSecretValue", "ThrottlingException", 400),
        ("sqs", "SendMessage", "AmazonSQS.SendMessage", "ThrottlingException", 400),
        ("s3", "PutObject", None, "SlowDown", 503),
    ],
)
def test_a_throttled_request_gets_the_services_own_throttling_error_which_maps_to_a_503(
    service: str, operation: str, target: str | None, code: str, status: int
) -> None:
    # Given a request of the service (JSON protocols name their operation in X-Amz-Target)
    headers = ["Content-Length: 2", "Content-Type: application/x-amz-json-1.0"]
    request = (
        _head("POST", *headers, f"X-Amz-Target: {target}") if target else _head("PUT", "Content-Length: 2")
    )
    # When the proxy throttles it
    raw = throttle_response(request, keep_alive=True)
    # Then botocore reads the service's throttling error, which the bridge answers as BACKEND_UNAVAILABLE
    parsed = _parse(raw, service, operation)
    assert parsed["Error"]["Code"] == code
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    assert is_backend_unavailable(ClientError(parsed, operation))  # type: ignore[arg-type]
    assert b"Connection: keep-alive" in raw


def test_dynamodb_throttling_is_answered_in_dynamodbs_own_words() -> None:
    # Given a DynamoDB request; When throttled; Then the answer is DynamoDB's, namespace included
    request = _head("POST", "Content-Length: 2", "X-Amz-Target: DynamoDB_20120810.GetItem")
    raw = throttle_response(request, keep_alive=False)
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert raw.endswith(
        b'{"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}'
    )
    assert b"Connection: close" in raw


def test_a_throttled_head_request_gets_no_body() -> None:
    # Given S3's HeadObject; When throttled; Then the answer is headers only (a HEAD answer has no body)
    raw = throttle_response(_head("HEAD", "Host: x"), keep_alive=False)
    assert raw.startswith(b"HTTP/1.1 503 ")
    assert raw.endswith(b"\r\n\r\n")
