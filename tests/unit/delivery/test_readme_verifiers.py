"""The verifiers the README gives CRMs (Python and PHP) accept our signatures and refuse tampering."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctibridge.delivery import signing

README = Path(__file__).resolve().parents[3] / "README.md"
SECTION = README.read_text().split("## Forwarding call events to the CRM", 1)[1].split("\n## ", 1)[0]
BODY = json.dumps(
    {"id": "evt_1", "type": "call.ended", "data": {"userfield": "đơn hàng 42"}}, ensure_ascii=False
)


def code_block(language: str) -> str:
    (block,) = re.findall(rf"```{language}\n(.*?)```", SECTION, flags=re.DOTALL)
    return str(block)


def python_verifier() -> Callable[..., str]:
    namespace: dict[str, Any] = {}
    exec(code_block("python"), namespace)
    return namespace["verify"]  # type: ignore[no-any-return]


def php_verify(secret: str, headers: dict[str, str], body: bytes) -> str | None:
    """Run the README's PHP function; answers the id, or None if it threw."""
    script = code_block("php") + (
        "\n$in = json_decode(stream_get_contents(STDIN), true);\n"
        "try { echo ctibridge_verify($in['secret'], $in['headers'], base64_decode($in['body'])); }\n"
        "catch (RuntimeException $e) { fwrite(STDERR, $e->getMessage()); exit(3); }\n"
    )

    payload = json.dumps({"secret": secret, "headers": headers, "body": base64.b64encode(body).decode()})
    done = subprocess.run(
        ["php", "-r", script.removeprefix("<?php\n")],
        input=payload,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode == 3:
        return None
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("verifier", ["python", "php"])
def test_readme_verifier_accepts_ours_and_refuses_tampering(verifier: str) -> None:
    # Given a request signed by the worker's signing code, now
    secret = signing.generate_secret()
    body = BODY.encode()
    headers = signing.sign_headers(secret, "evt_1", body, int(time.time()))
    if verifier == "python":
        verify = python_verifier()

        def check(s: str, h: dict[str, str], b: bytes) -> str | None:
            try:
                return str(verify(s, h, b))
            except ValueError:
                return None
    else:
        check = php_verify
    # When the CRM checks it with the README's verifier
    # Then it is accepted, with its event id
    assert check(secret, headers, body) == "evt_1"
    assert check(secret, {k.upper(): v for k, v in headers.items()}, body) == "evt_1"
    # And a changed body, another secret or an old timestamp are refused
    assert check(secret, headers, body.replace(b"42", b"43")) is None
    assert check(signing.generate_secret(), headers, body) is None
    old = signing.sign_headers(secret, "evt_1", body, int(time.time()) - 600)
    assert check(secret, old, body) is None
