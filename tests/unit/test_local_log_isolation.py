"""The local stack's log lines name the function that wrote them, although its functions share a process
(``ctibridge_local.powertools_isolation``): per invocation, per thread, and in the threads it starts."""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from ctibridge_local import powertools_isolation


def make_logger() -> tuple[Logger, io.StringIO]:
    powertools_isolation.install()
    stream = io.StringIO()
    logger = Logger(service=f"isolation-{uuid.uuid4().hex[:8]}", logger_handler=logging.StreamHandler(stream))
    return logger, stream


def lines(stream: io.StringIO) -> dict[str, dict[str, Any]]:
    return {line["message"]: line for line in map(json.loads, stream.getvalue().splitlines())}


def test_concurrent_invocations_keep_their_own_function_name_and_keys() -> None:
    # Given one logger shared by two functions, as the layer's is in the local stack
    logger, stream = make_logger()
    both_began = threading.Barrier(2)

    def invocation(function_name: str, tenant: str) -> None:
        powertools_isolation.begin_invocation(function_name)
        logger.append_keys(tenant=tenant)
        both_began.wait()  # the other invocation has set its own keys meanwhile
        logger.info(f"line of {function_name}")

    # When both run at once on two threads
    threads = [
        threading.Thread(target=invocation, args=("PbxWebhookFunction", "demo")),
        threading.Thread(target=invocation, args=("AgentCallStateFunction", "acme")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each line carries its own function's name and keys
    logged = lines(stream)
    assert logged["line of PbxWebhookFunction"]["function_name"] == "PbxWebhookFunction"
    assert logged["line of PbxWebhookFunction"]["tenant"] == "demo"
    assert logged["line of AgentCallStateFunction"]["function_name"] == "AgentCallStateFunction"
    assert logged["line of AgentCallStateFunction"]["tenant"] == "acme"


def test_a_thread_reused_by_another_function_forgets_the_previous_invocation() -> None:
    logger, stream = make_logger()
    # Given a worker thread that served an invocation of one function with a callid
    powertools_isolation.begin_invocation("PbxWebhookFunction")
    logger.append_keys(callid="42.1")
    # When the same thread serves another function
    powertools_isolation.begin_invocation("CrmDeliveryFunction")
    logger.info("delivered")
    # Then its line is that function's, without the previous invocation's keys
    line = lines(stream)["delivered"]
    assert line["function_name"] == "CrmDeliveryFunction"
    assert "callid" not in line


def test_threads_an_invocation_starts_log_as_that_invocation() -> None:
    logger, stream = make_logger()
    # Given an invocation that hands work to a thread pool (the popup fan-out does)
    powertools_isolation.begin_invocation("PbxWebhookFunction")
    logger.append_keys(callid="42.2")
    with ThreadPoolExecutor(max_workers=1) as pool:
        # When the pool's thread logs
        pool.submit(logger.warning, "post to connection failed").result()
    # Then its line names the invocation's function and keys
    line = lines(stream)["post to connection failed"]
    assert (line["function_name"], line["callid"]) == ("PbxWebhookFunction", "42.2")
