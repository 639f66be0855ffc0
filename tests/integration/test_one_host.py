"""One host for a CRM (issue 16): the local stack's web port serves the seed vendors' paths and answers
the HTTP API's, as the vendors' hosts did (and CloudFront does on AWS).

A CRM written for VCC / 3C / Alohub / myCC loads its scripts and media from the host and its server
logs the agent in on the same host; switching to CTI Bridge changes that host and nothing else.
"""

from __future__ import annotations

import uuid
import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from tests.support.local_stack import RunningStack

DEMO_ACCESS_KEY = "demo-access-key"
JS = "text/javascript"


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/js/embed/jquery.min.js", JS, b"jQuery v3."),
        ("/js/embed/jssip-3.0.7.js", JS, b"var JsSIP="),
        ("/js/embed/jssip-3.2.10.js", JS, b"var JsSIP="),
        ("/js/embed/init-3.0.7.js", JS, b"init-3.0.7.js"),
        ("/js/embed/web.push.js", JS, b"web.push.js"),
        ("/js/embed/cs_const.js", JS, b"cs_const.js"),
        ("/js/embed/cs_voice.js", JS, b"/config.json"),
        ("/images/320x240.ogg", "audio/ogg", b"OggS"),
        ("/jssip-3.10.0.min.js", JS, b"var JsSIP="),  # seed 000 (Alohub), next to the page
        ("/sipjs.js", JS, b"CTIBridge"),
        ("/webphone", "text/html", b"<!doctype html>"),  # seed 003 (myCC) iframe src
    ],
)
def test_the_vendors_paths_answer_on_the_web_host(
    stack: RunningStack, path: str, content_type: str, marker: bytes
) -> None:
    answer = httpx.get(f"{stack.web_url}{path}", timeout=10)
    assert answer.status_code == 200, path
    assert answer.headers["content-type"].startswith(content_type)
    assert marker in answer.content


def test_the_seed_login_answers_on_the_web_host_and_the_same_jwt_logs_in_again(stack: RunningStack) -> None:
    # Given the JWT a VCC / 3C CRM's login.php mints
    expired = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        token = jwt.encode({"ipphone": "102", "expired": expired}, DEMO_ACCESS_KEY, algorithm="HS256")
    # When its server POSTs it as a multipart form to {host}/{domain}/thirdParty/login, host = the web host
    first = httpx.post(f"{stack.web_url}/demo/thirdParty/login", files={"token": (None, token)}, timeout=10)
    # Then it is logged in, as on the HTTP API's own host
    assert first.status_code == 200, first.text
    assert first.json()["user"]["ipphone"] == "102"
    # And the page's csInit(<the same JWT>) logs in again with it
    again = httpx.post(f"{stack.http_url}/demo/thirdParty/login", json={"token": token}, timeout=10)
    assert again.status_code == 200, again.text
    assert again.json()["user"]["token"] != first.json()["user"]["token"]
    # And the seed's error statuses come through unchanged
    unknown = httpx.post(
        f"{stack.web_url}/nodomain/thirdParty/login", files={"token": (None, token)}, timeout=10
    )
    assert unknown.status_code == 404


def test_the_rest_of_the_api_answers_on_the_web_host(stack: RunningStack) -> None:
    # The health check, the CRM's API with its key and query, the PBX's webhooks
    assert httpx.get(f"{stack.web_url}/health", timeout=10).status_code == 200
    calls = httpx.get(
        f"{stack.web_url}/v1/calls", params={"limit": "1"}, headers={"X-Api-Key": "demo-api-key"}, timeout=10
    )
    assert calls.status_code == 200, calls.text
    assert "items" in calls.json()
    refused = httpx.get(f"{stack.web_url}/v1/calls", timeout=10)
    assert (refused.status_code, refused.json()["code"]) == (401, "API_KEY_MISSING")
    callid = f"onehost-{uuid.uuid4().hex[:8]}"
    ring = httpx.get(
        f"{stack.web_url}/wsapi/demo/incoming_call",
        params={"secret": "demo-secret", "phone": "0901234567", "extension": "102", "callid": callid},
        timeout=10,
    )
    assert ring.status_code == 200, ring.text
    ended = httpx.post(
        f"{stack.web_url}/wsapi/demo/call_answered",
        params={"secret": "demo-secret"},
        json={
            "callid": callid,
            "calldate": datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d %H:%M:%S"),
            "extension": "102",
            "phone": "0901234567",
            "duration": 3,
            "billsec": 0,
            "status": "NO ANSWER",
            "recording": "",
            "userfield": "",
        },
        timeout=10,
    )
    assert ended.status_code == 200, ended.text


def test_cors_answers_through_the_web_host_as_the_api_decides(stack: RunningStack) -> None:
    # A page of an allowed origin (the webphone's) asks before calling the API
    preflight = httpx.options(
        f"{stack.web_url}/v1/agent/me",
        headers={
            "Origin": stack.web_url,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == stack.web_url
    # and a stranger's origin gets no grant
    stranger = httpx.options(
        f"{stack.web_url}/v1/agent/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in stranger.headers
