"""Step Functions Local's mock configuration file (``MockConfigFile.json``), on the local engine.

A team's existing mock file works unchanged: ``StateMachines.<name>.TestCases.<case>.<State>`` names
a response in ``MockedResponses``, whose keys are attempt numbers or ranges (``"0-1"``, ``"2"``) and
whose values are ``{"Return": <the integration's response>}`` or ``{"Throw": {"Error", "Cause"}}``.
An execution started on ``<stateMachineArn>#<case>`` runs that case: each mocked Task state answers
its n-th attempt (``0`` first, each retry the next) with the n-th response, without calling
anything; every other state runs for real (our handlers, moto's DynamoDB, ...). The file comes from
``install(path)``, or from ``$SFN_MOCK_CONFIG`` when no path is given.

moto 5.2.5 already carries LocalStack's evaluator for this (``parser/mocking/mock_config.py``, the
mock branches of the Task states) but never loads a file and never passes a test case to an
execution. This module supplies both, and nothing else: it validates the file (errors name the bad
key), builds moto's own ``MockTestCase``, and registers it with the three patches of moto that
``moto_patches`` applies for it (2-4 there): ``StepFunctionsParserBackend.start_execution``
(understand ``#case``), ``Execution._get_start_execution_worker`` (hand the case to the
interpreter), and ``StateTaskServiceDynamoDB._from_error``, which turned a mocked ``Throw`` at a
DynamoDB task (our Record* states) into ``DynamoDB.AmazonDynamoDBException`` instead of the
``Error`` the file names.

Emulated as in Step Functions Local:
- ``Return`` is the service integration's whole response: for ``arn:aws:states:::lambda:invoke``
  that is ``{"StatusCode": 200, "Payload": <the function's result>}`` (our ASL's
  ``OutputPath: $.Payload`` selects the payload); ``Throw`` fails the attempt with ``Error``
  (``Cause`` optional), which Retry and Catch match by name like a real error;
- retries consume attempts; states a case does not name run their real integration;
- the execution's ARN and name do not carry the case (``...:execution:<machine>:<name>``).

An execution keeps its case (``execution.mock_test_case``): a redrive that starts a new worker
through ``_get_start_execution_worker`` answers from the same case, attempts counted afresh from 0
in the state it re-enters.

Checked here, where Step Functions Local is silent or lenient: the file's structure (unknown keys,
ranges that do not start at 0 or leave gaps, a state naming an undefined response), and at start a
case that names a state the definition lacks, or a state that is not a Task (mocks apply to Task
states only). A state machine is found in the file by the name it was created with
(``mailroom-local-inbound-email``) or, when ``install`` is given ``aliases``, by the template's
logical id (``InboundEmailStateMachine``).

Not emulated: ``StartSyncExecution`` (EXPRESS) with a case; re-reading the file while the stack runs
(restart it); Step Functions Local's own quirks (it never validated ``Return`` shapes; neither do
we). An attempt beyond the last response fails the task with ``States.Runtime`` (moto's message says
which state and attempt); give the last range room for every retry the ASL allows.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mailroom_cli.local import moto_patches

if TYPE_CHECKING:
    from mailroom_cli.local.template import SamTemplate

ENV_VAR: Final = "SFN_MOCK_CONFIG"
_TOP_LEVEL: Final = ("StateMachines", "MockedResponses")
_RANGE: Final = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
_STATE_MACHINE_TYPES: Final = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")


class MockConfigError(ValueError):
    """The mock configuration is not usable; the message names the file and the offending key."""


@dataclass(frozen=True)
class MockedAttempts:
    """One entry of a mocked response: what attempts ``first``..``last`` (inclusive) get."""

    first: int
    last: int
    returns: Any = None
    error: str | None = None  # set: a Throw; None: a Return of ``returns``
    cause: str = ""


@dataclass(frozen=True)
class MockConfig:
    """A validated mock file: test cases per state machine, and the responses they name."""

    source: str
    state_machines: Mapping[str, Mapping[str, Mapping[str, str]]]  # machine -> case -> state -> response
    responses: Mapping[str, tuple[MockedAttempts, ...]]  # sorted, contiguous from attempt 0

    def cases(self, state_machine: str) -> list[str]:
        """The test case names defined for ``state_machine`` (empty when it has none)."""
        return list(self.state_machines.get(state_machine, {}))

    def test_case(self, state_machine: str, case: str) -> Mapping[str, str]:
        """``{state: response name}`` of one case; ``MockConfigError`` when the file has no such case."""
        if state_machine not in self.state_machines:
            known = ", ".join(sorted(self.state_machines)) or "none"
            raise MockConfigError(f"{self.source}: StateMachines has no {state_machine!r} (it defines: {known})")
        cases = self.state_machines[state_machine]
        if case not in cases:
            raise MockConfigError(
                f"{self.source}: StateMachines.{state_machine}.TestCases has no {case!r} "
                f"(it defines: {', '.join(cases) or 'none'})"
            )
        return cases[case]


# ---------------------------------------------------------------------------------------------- loading


def load_mock_config(path: str | os.PathLike[str]) -> MockConfig:
    """Read and validate a Step Functions Local mock file."""
    source = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MockConfigError(f"{source}: no such mock configuration file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MockConfigError(f"{source}: not JSON ({exc})") from None
    return parse_mock_config(raw, source=source)


def parse_mock_config(raw: Any, *, source: str = "<mock config>") -> MockConfig:
    """Validate an already-decoded mock configuration."""
    top = _object(raw, source, "the top level")
    for key in top:
        if key not in _TOP_LEVEL:
            raise MockConfigError(f"{source}: unknown top-level key {key!r} (expected {' and '.join(_TOP_LEVEL)})")
    for key in _TOP_LEVEL:
        if key not in top:
            raise MockConfigError(f"{source}: {key} is missing")
    responses = {
        name: _responses(value, source, f"MockedResponses.{name}")
        for name, value in _object(top["MockedResponses"], source, "MockedResponses").items()
    }
    machines: dict[str, dict[str, dict[str, str]]] = {}
    for machine, body in _object(top["StateMachines"], source, "StateMachines").items():
        where = f"StateMachines.{machine}"
        fields = _object(body, source, where)
        for key in fields:
            if key != "TestCases":
                raise MockConfigError(f"{source}: {where}: unknown key {key!r} (expected TestCases)")
        if "TestCases" not in fields:
            raise MockConfigError(f"{source}: {where}.TestCases is missing")
        machines[machine] = {}
        for case, states in _object(fields["TestCases"], source, f"{where}.TestCases").items():
            if not case or "#" in case:
                raise MockConfigError(f"{source}: {where}.TestCases: {case!r} cannot follow '#' in an ARN")
            case_where = f"{where}.TestCases.{case}"
            mapping: dict[str, str] = {}
            for state, response in _object(states, source, case_where).items():
                if not isinstance(response, str):
                    raise MockConfigError(
                        f"{source}: {case_where}.{state} must name a response in MockedResponses, "
                        f"not {type(response).__name__}"
                    )
                if response not in responses:
                    raise MockConfigError(
                        f"{source}: {case_where}.{state} names {response!r}, which MockedResponses does not define"
                    )
                mapping[state] = response
            machines[machine][case] = mapping
    return MockConfig(source=source, state_machines=machines, responses=responses)


def _object(value: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MockConfigError(f"{source}: {where} must be a JSON object, not {type(value).__name__}")
    return value


def _responses(value: Any, source: str, where: str) -> tuple[MockedAttempts, ...]:
    entries = _object(value, source, where)
    if not entries:
        raise MockConfigError(f"{source}: {where} defines no attempts")
    parsed: list[MockedAttempts] = []
    for key, body in entries.items():
        match = _RANGE.match(key)
        if match is None:
            raise MockConfigError(f'{source}: {where}: {key!r} is not an attempt number or range (like "0", "1-2")')
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise MockConfigError(f"{source}: {where}: range {key!r} ends before it starts")
        parsed.append(_attempts(body, first, last, source, f"{where}.{key}"))
    parsed.sort(key=lambda a: a.first)
    expected = 0
    for attempts in parsed:
        if attempts.first != expected:
            raise MockConfigError(
                f"{source}: {where}: attempts must be numbered from 0 without gaps or overlaps; "
                f"expected a range starting at {expected}, found one starting at {attempts.first}"
            )
        expected = attempts.last + 1
    return tuple(parsed)


def _attempts(body: Any, first: int, last: int, source: str, where: str) -> MockedAttempts:
    fields = _object(body, source, where)
    kinds = [k for k in fields if k in ("Return", "Throw")]
    unknown = [k for k in fields if k not in ("Return", "Throw")]
    if unknown:
        raise MockConfigError(f"{source}: {where}: unknown key {unknown[0]!r} (expected Return or Throw)")
    if len(kinds) != 1:
        raise MockConfigError(f"{source}: {where} must hold exactly one of Return or Throw")
    if kinds[0] == "Return":
        return MockedAttempts(first=first, last=last, returns=fields["Return"])
    throw = _object(fields["Throw"], source, f"{where}.Throw")
    for key in throw:
        if key not in ("Error", "Cause"):
            raise MockConfigError(f"{source}: {where}.Throw: unknown key {key!r} (expected Error and Cause)")
    error, cause = throw.get("Error"), throw.get("Cause", "")
    if not isinstance(error, str) or not error:
        raise MockConfigError(f"{source}: {where}.Throw.Error must be a non-empty string (the error name)")
    if not isinstance(cause, str):
        raise MockConfigError(f"{source}: {where}.Throw.Cause must be a string")
    return MockedAttempts(first=first, last=last, error=error, cause=cause)


def configured_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The mock file to use: ``explicit`` if given, else ``$SFN_MOCK_CONFIG``, else None."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(ENV_VAR)
    return Path(from_env) if from_env else None


def state_machine_aliases(template: SamTemplate) -> dict[str, str]:
    """``{created name: logical id}`` of a provisioned ``SamTemplate``'s state machines."""
    aliases: dict[str, str] = {}
    for logical_id in template.of_type(*_STATE_MACHINE_TYPES):
        physical = template.physical.get(logical_id)
        if physical is not None and "Name" in physical.attributes:
            aliases[physical.attributes["Name"]] = logical_id
    return aliases


# ---------------------------------------------------------------------------------------------- moto


def to_moto_test_case(config: MockConfig, state_machine: str, case: str) -> Any:
    """moto's ``MockTestCase`` for one case of ``config`` (``state_machine`` as the file names it)."""
    from moto.stepfunctions.parser.mocking.mock_config import (
        MockedResponse,
        MockedResponseReturn,
        MockedResponseThrow,
        MockTestCase,
        StateMockedResponses,
    )

    per_state = []
    for state, response in config.test_case(state_machine, case).items():
        attempts: list[MockedResponse] = []
        for a in config.responses[response]:
            if a.error is None:
                attempts.append(MockedResponseReturn(range_start=a.first, range_end=a.last, payload=a.returns))
            else:
                attempts.append(
                    MockedResponseThrow(range_start=a.first, range_end=a.last, error=a.error, cause=a.cause)
                )
        per_state.append(
            StateMockedResponses(state_name=state, mocked_response_name=response, mocked_responses=attempts)
        )
    return MockTestCase(state_machine_name=state_machine, test_case_name=case, state_mocked_responses_list=per_state)


def state_types(definition: Mapping[str, Any]) -> dict[str, str]:
    """``{state name: Type}`` of every state in an ASL definition, branches and map processors included."""
    found: dict[str, str] = {}
    pending: list[Mapping[str, Any]] = [definition]
    while pending:
        body = pending.pop()
        for name, state in (body.get("States") or {}).items():
            found[name] = str(state.get("Type"))
            pending.extend(state.get("Branches") or [])
            for nested in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(nested), dict):
                    pending.append(state[nested])
    return found


@dataclass(frozen=True, eq=False)
class _Installed:
    config: MockConfig
    aliases: Mapping[str, str]


_lock = threading.Lock()
_active: list[_Installed] = []  # the latest install answers


def install(
    source: MockConfig | str | os.PathLike[str] | None = None, *, aliases: Mapping[str, str] | None = None
) -> Callable[[], None]:
    """Make moto honour the mock file; returns the function that undoes it (calling it twice is harmless).

    ``source``: a path, an already loaded ``MockConfig``, or None for ``$SFN_MOCK_CONFIG``.
    ``aliases``: other names a created state machine may have in the file (``{created: logical id}``,
    see ``state_machine_aliases``). Installs nest: the latest one answers until it is undone.
    """
    if isinstance(source, MockConfig):
        config = source
    else:
        path = configured_path(source)
        if path is None:
            raise MockConfigError(f"no mock configuration: pass a path or set {ENV_VAR}")
        config = load_mock_config(path)
    entry = _Installed(config, dict(aliases or {}))
    with _lock:
        _active.append(entry)
        undo = moto_patches.install(mock_case=functools.partial(_test_case_for, entry))

    def uninstall() -> None:
        with _lock:
            if entry in _active:
                _active.remove(entry)
                undo()

    return uninstall


def active() -> MockConfig | None:
    """The mock configuration answering ``#case`` starts now (the latest install), if any."""
    with _lock:
        return _active[-1].config if _active else None


@contextlib.contextmanager
def installed(
    source: MockConfig | str | os.PathLike[str] | None = None, *, aliases: Mapping[str, str] | None = None
) -> Iterator[None]:
    """``install`` for the duration of a ``with`` block."""
    uninstall = install(source, aliases=aliases)
    try:
        yield
    finally:
        uninstall()


def _test_case_for(installed: _Installed, machine: Any, case: str) -> Any:
    """moto's ``MockTestCase`` for ``<machine>#<case>``, or the API error the caller should see."""
    from moto.stepfunctions.exceptions import InvalidName, ValidationException

    machine_name, definition = machine.name, json.loads(machine.definition)
    config = installed.config
    key = machine_name if machine_name in config.state_machines else installed.aliases.get(machine_name, machine_name)
    try:
        mocks = config.test_case(key, case)
    except MockConfigError as exc:
        raise InvalidName(f"Invalid mock test case name {case!r} for state machine {machine_name!r}: {exc}") from None
    _check_against_definition(config, key, case, mocks, definition, ValidationException)
    return to_moto_test_case(config, key, case)


def _check_against_definition(
    config: MockConfig,
    machine: str,
    case: str,
    mocks: Mapping[str, str],
    definition: Mapping[str, Any],
    error: Callable[[str], Exception],
) -> None:
    states = state_types(definition)
    for state in mocks:
        where = f"{config.source}: StateMachines.{machine}.TestCases.{case}.{state}"
        if state not in states:
            raise error(f"{where}: the state machine has no state {state!r}")
        if states[state] != "Task":
            raise error(f"{where}: {state!r} is a {states[state]} state; only Task states can be mocked")
