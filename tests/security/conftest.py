"""The security suites: figures they record (printed after the run), and the handler tests' moto fixtures.

Every suite here records what it measured through the ``figures`` fixture; pytest prints them in a
"security figures" section at the end, and ``MAILROOM_SECURITY_REPORT=path.json`` also writes them as
JSON (``make security`` does). ``docs/reliability-input-and-attacks.md`` quotes them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from security_helpers import FIGURES, Figures

HANDLER_TESTS = Path(__file__).resolve().parents[1] / "handlers"


def _handler_fixtures() -> Any:
    """``tests/handlers/conftest.py`` (a moto account with the template's resources, per test), reused as is."""
    sys.path.insert(0, str(HANDLER_TESTS))  # its helpers import ``moto_stack`` as the handler tests do
    spec = importlib.util.spec_from_file_location("security_handler_fixtures", HANDLER_TESTS / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _handler_fixtures()
parse_service_models_once = _fixtures.parse_service_models_once
handler_clients = _fixtures.handler_clients
clients = _fixtures.clients
stack = _fixtures.stack
configure = _fixtures.configure
context = _fixtures.context


@pytest.fixture(scope="session")
def figures() -> Figures:
    """Where the security suites record what they measured."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the recorded figures, and write them as JSON to ``$MAILROOM_SECURITY_REPORT`` when set."""
    if not FIGURES.tables:
        return
    terminalreporter.section("security figures")
    for table, rows in FIGURES.tables.items():
        terminalreporter.write_line(f"[{table}]")
        for row, values in rows.items():
            shown = ", ".join(f"{k}={_shown(v)}" for k, v in values.items())
            terminalreporter.write_line(f"  {row}: {shown}")
    report = os.environ.get("MAILROOM_SECURITY_REPORT")
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(json.dumps(FIGURES.tables, indent=2, sort_keys=True, default=str) + "\n")
        terminalreporter.write_line(f"written to {report}")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)
