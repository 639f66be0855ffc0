"""One local stack for the README's blocks, started on free ports as `make dev` would be."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.readme.runner import ReadmeSession
from tests.support.local_stack import start_stack


@pytest.fixture(scope="session")
def readme_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadmeSession]:
    stack = start_stack(tmp_path_factory.mktemp("readme-stack"))
    try:
        yield ReadmeSession(stack, tmp_path_factory.mktemp("readme-session"))
    finally:
        stack.stop()
