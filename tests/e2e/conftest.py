"""One local stack per test module: moto over loopback, the real template, ASL and handlers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailroom_cli.local.stack import LocalOptions, LocalStack
from mailroom_cli.target import Target, from_local


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack on free ports, retry waits compressed 1000× (the requested ones are recorded)."""
    logs = tmp_path_factory.mktemp("stack")
    options = LocalOptions(
        aws_port=0,
        smtp_port=0,
        retry_scale=0.001,
        state_file=logs / "local.json",
        lambda_log=logs / "lambda.log",
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def target(stack: LocalStack) -> Target:
    return from_local(stack.info())
