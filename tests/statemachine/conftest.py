"""State-machine tests on the local engine, scripted by a Step Functions Local mock file.

``mock_config_path`` is the file the ``mocked_stack`` honours; a team testing its own file overrides
that one fixture (or sets ``SFN_MOCK_CONFIG`` and overrides it to return None).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from local_stack import running_stack

from mailroom_cli.local import mocking
from mailroom_cli.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mock_config_path() -> Path | None:
    """mailroom's own mock file; None: ``$SFN_MOCK_CONFIG``."""
    return ROOT / "statemachine" / "test" / "MockConfigFile.json"


@pytest.fixture(scope="module")
def mocked_stack(tmp_path_factory: pytest.TempPathFactory, mock_config_path: Path | None) -> Iterator[LocalStack]:
    """A running local stack whose executions started on ``<arn>#<case>`` follow the mock file.

    Retry waits are compressed 1000× (``stack.retry_clock.requested`` keeps the requested ones).
    """
    with running_stack(tmp_path_factory.mktemp("mocked-stack")) as stack:
        assert stack.template is not None
        uninstall = mocking.install(mock_config_path, aliases=mocking.state_machine_aliases(stack.template))
        try:
            yield stack
        finally:
            uninstall()
