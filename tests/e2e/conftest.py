"""One local stack per test module: moto over loopback, the real template, ASL and handlers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_stack import running_stack

from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target, from_local


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack on free ports, retry waits compressed 1000× (the requested ones are recorded)."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="module")
def target(stack: LocalStack) -> Target:
    return from_local(stack.info())
