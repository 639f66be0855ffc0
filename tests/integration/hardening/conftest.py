"""A local stack of its own for the hardening tests (contract, security, faults, load), with the
settings that let a test watch retries happen: CRM deliveries and recordings back off from 1 s, a CRM
read times out after 1 s, a recording over 1 MiB is refused; and with the fault proxy between the functions
and moto (``--fault-proxy``), in pass mode unless a test makes AWS fail (``stack.aws_faults(...)``)."""

from collections.abc import Iterator

import pytest

from tests.support.hardening import stack_environment
from tests.support.local_stack import RunningStack, start_stack

HARDENED_ENV = {
    "RECORDING_RETRY_BASE_SECONDS": "1",
    "RECORDING_MAX_BYTES": str(1024 * 1024),
    "DELIVERY_RETRY_BASE_SECONDS": "1",
    "DELIVERY_CONNECT_TIMEOUT_SECONDS": "1",
    "DELIVERY_READ_TIMEOUT_SECONDS": "1",
}


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    args = ["--fault-proxy"]
    args += [arg for name, value in HARDENED_ENV.items() for arg in ("--env", f"{name}={value}")]
    running = start_stack(tmp_path_factory.mktemp("hardened"), *args)
    try:
        with stack_environment(running):
            yield running
    finally:
        running.stop()
