"""Installing and uninstalling a mock configuration, in a module of its own.

No fixture here starts a stack, so nothing is installed when these tests begin (the state-machine
suite's ``mocked_stack`` is module-scoped and torn down before this module runs): every assertion
runs whichever tests run with it.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (
    StateTaskServiceDynamoDB,
)
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from mailroom_cli.local import mocking, moto_patches


def _valid() -> dict[str, Any]:
    return {
        "StateMachines": {"M": {"TestCases": {"Case": {"Step": "Flaky"}}}},
        "MockedResponses": {"Flaky": {"0": {"Throw": {"Error": "StorageUnavailableError", "Cause": "503"}}}},
    }


def _patched() -> list[str]:
    """The moto methods that are mocking's replacements (in moto_patches) right now."""
    methods = [
        StepFunctionsParserBackend.start_execution,
        Execution._get_start_execution_worker,
        StateTaskServiceDynamoDB._from_error,
    ]
    return [m.__qualname__ for m in methods if m.__module__ == moto_patches.__name__]


def test_uninstalling_in_any_order_leaves_the_latest_remaining_install_answering() -> None:
    assert mocking.active() is None
    assert _patched() == []
    first_config, second_config = mocking.parse_mock_config(_valid()), mocking.parse_mock_config(_valid())
    first, second = mocking.install(first_config), mocking.install(second_config)
    assert mocking.active() is second_config
    assert len(_patched()) == 3

    first()
    first()  # twice is harmless
    assert mocking.active() is second_config
    assert len(_patched()) == 3
    second()
    assert mocking.active() is None
    assert _patched() == []  # moto is itself again
