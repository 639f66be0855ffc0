import json
from pathlib import Path

import pytest

from tests.support.handlers import load_handler

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "health" / "get.json").read_text())


def test_health_answers_ok_with_stage(monkeypatch: pytest.MonkeyPatch, lambda_context: object) -> None:
    # Given the health function deployed to stage "prod"
    monkeypatch.setenv("STAGE", "prod")
    handler = load_handler("health")
    # When API Gateway sends it the sample event
    response = handler(EVENT, lambda_context)
    # Then it answers 200 with the stage
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["status"] == "ok"
    assert body["stage"] == "prod"


def test_health_unknown_method_is_not_found(lambda_context: object) -> None:
    handler = load_handler("health")
    event = {**EVENT, "routeKey": "POST /health"}
    event["requestContext"] = {
        **EVENT["requestContext"],
        "http": {**EVENT["requestContext"]["http"], "method": "POST"},
    }
    assert handler(event, lambda_context)["statusCode"] == 404
