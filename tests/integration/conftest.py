"""The `stack` fixture: one real local stack for the whole integration session."""

from collections.abc import Iterator

import pytest

from tests.support.local_stack import RunningStack, start_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # Recording retries back off from 1 s instead of 30 s, so a retry can be watched end to end.
    running = start_stack(tmp_path_factory.mktemp("stack"), "--env", "RECORDING_RETRY_BASE_SECONDS=1")
    yield running
    running.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
