"""Every function prints its metrics (EMF) at the end of every invocation, even a failed one.

Metrics are counted anywhere (``observability.count``) but only reach CloudWatch when a handler flushes
them; a function without the flush loses ``BackendUnavailable`` and the other counts its alarms watch.
"""

import contextlib
import json
from pathlib import Path

import pytest

from ctibridge import observability
from tests.support.aws import load_template
from tests.support.handlers import FUNCTIONS, load_handler

FUNCTION_DIRS = sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))


def test_every_template_function_is_checked() -> None:
    # Given the functions the template deploys
    template = load_template()
    code_dirs = {
        Path(r["Properties"]["CodeUri"]).name
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    # Then each is one of the handlers this file invokes
    assert code_dirs == set(FUNCTION_DIRS)


@pytest.mark.parametrize("function", FUNCTION_DIRS)
def test_handler_flushes_metrics_counted_during_the_invocation(
    function: str, lambda_context: object, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a count made during an invocation (here before it: the metric set is shared)
    handler = load_handler(function)
    observability.metrics.clear_metrics()
    observability.count("BackendUnavailable")
    capsys.readouterr()
    # When the handler runs on an event it cannot even parse (nothing reaches AWS)
    # (a failed invocation must flush too; its error is not the subject here)
    with contextlib.suppress(Exception):
        handler({}, lambda_context)
    # Then the count was printed as one EMF line and the metric set is empty again
    emf = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and '"_aws"' in line
    ]
    assert [doc["BackendUnavailable"] for doc in emf if "BackendUnavailable" in doc] in ([1.0], [[1.0]])
    assert not observability.metrics.metric_set
