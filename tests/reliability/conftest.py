"""One local stack per reliability module, every Lambda call observed, figures printed at the end.

``MAILROOM_MUTANT=unconditional-inbox-write`` swaps the inbox store's conditional write for an
unconditional one (a test double, ``mutant_unconditional_inbox_write.py``, run in every Lambda
environment before its handler): ``test_mutation_check.py`` runs a suite that way and expects it
to fail, which shows its duplicate checks can see a duplicate.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_stack import running_stack
from reliability_support import FIGURES, MUTANT_VARIABLE, UNCONDITIONAL_INBOX_WRITE, Invocations

from mailroom_cli.local.runtime import PRELOAD_VARIABLE
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target, from_local


@pytest.fixture(scope="session", autouse=True)
def mutant() -> Iterator[str | None]:
    """The mutant named by ``$MAILROOM_MUTANT``, in place for the whole run (None: the code as it is)."""
    name = os.environ.get(MUTANT_VARIABLE) or None
    if name is None:
        yield None
        return
    assert name == UNCONDITIONAL_INBOX_WRITE, f"unknown {MUTANT_VARIABLE}: {name!r}"
    with pytest.MonkeyPatch.context() as patch:
        # The handlers run in Lambda environments (processes): the runtime runs this file in each first.
        patch.setenv(PRELOAD_VARIABLE, str(Path(__file__).with_name("mutant_unconditional_inbox_write.py")))
        yield name


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack on free ports; retry waits compressed 1000× (the ASL's are recorded)."""
    with running_stack(tmp_path_factory.mktemp("reliability")) as running:
        yield running


@pytest.fixture(scope="module")
def target(stack: LocalStack) -> Target:
    return from_local(stack.info())


@pytest.fixture(scope="module")
def invocations(stack: LocalStack) -> Invocations:
    """Every Lambda invocation of this module's stack."""
    seen = Invocations()
    stack.observe(seen)
    return seen


@pytest.fixture(autouse=True)
def healed(stack: LocalStack) -> Iterator[None]:
    """No fault outlives the test that injected it."""
    stack.runtime.heal()
    yield
    stack.runtime.heal()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures the suites measured (``docs/reliability.md`` quotes them)."""
    if not FIGURES:
        return
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in FIGURES:
        tables[row["table"]].append({k: v for k, v in row.items() if k != "table"})
    terminalreporter.section("reliability figures")
    for name, rows in tables.items():
        columns = list(dict.fromkeys(k for row in rows for k in row))
        terminalreporter.write_line(f"{name}:")
        terminalreporter.write_line("  " + " | ".join(columns))
        for row in rows:
            terminalreporter.write_line("  " + " | ".join(str(row.get(c, "")) for c in columns))
    report = os.environ.get("MAILROOM_RELIABILITY_JSON")
    if report:
        Path(report).write_text(json.dumps(FIGURES, indent=2, default=str) + "\n")
