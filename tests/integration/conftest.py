"""The `stack` fixture: one real local stack for the whole integration session."""

import os
from collections.abc import Iterator

import pytest

from ctibridge import aws
from ctibridge.settings import get_settings
from ctibridge.tenants import repository
from tests.support.local_stack import REGION, RunningStack, start_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # Recording retries back off from 1 s instead of 30 s, so a retry can be watched end to end.
    running = start_stack(tmp_path_factory.mktemp("stack"), "--env", "RECORDING_RETRY_BASE_SECONDS=1")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stack_env(stack: RunningStack) -> Iterator[RunningStack]:
    """The stack, with this process's AWS clients pointed at its moto (to provision and inspect)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                patch.delenv(name)
        patch.setenv("AWS_ENDPOINT_URL", stack.moto_url)
        patch.setenv("AWS_ACCESS_KEY_ID", "local")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setenv("TABLE_NAME", stack.table_name)
        patch.setenv("STAGE", stack.stage)
        _forget_caches()
        yield stack
    _forget_caches()


def _forget_caches() -> None:
    get_settings.cache_clear()
    aws.reset()
    repository.clear_cache()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
