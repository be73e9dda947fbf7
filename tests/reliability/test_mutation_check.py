"""The duplicate checks can see a duplicate: with the inbox write made unconditional, they fail.

The inbox table's key (user, SES message id) makes a second write overwrite the first, so counting
items can never show a duplicate. The reliability suites therefore check Inbox's own answer
(``new_items``). This runs the fault matrix's *Inbox × crash after* cell, where Inbox runs three
times for one email, in a child pytest with ``MAILROOM_MUTANT=unconditional-inbox-write`` (see
``conftest.py``: a test double replaces the conditional put), and expects it to fail there, on the
``new_items`` check, and nowhere else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from local_stack import LOOPBACK
from reliability_support import MUTANT_VARIABLE, UNCONDITIONAL_INBOX_WRITE

pytestmark = pytest.mark.allow_hosts(LOOPBACK)

ROOT = Path(__file__).resolve().parents[2]
CELL = (
    "tests/reliability/test_reliability_faults.py::"
    "test_a_fault_at_a_step_loses_nothing_and_writes_nothing_twice[Inbox-crash_after]"
)


@pytest.mark.timeout(300)
def test_the_fault_matrix_fails_on_the_unconditional_inbox_write_mutant() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", CELL, "-q", "-p", "no:cacheprovider", "--no-header", "-rN"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "MAILROOM_RELIABILITY_JSON"},  # the parent's figures
            MUTANT_VARIABLE: UNCONDITIONAL_INBOX_WRITE,
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = run.stdout + run.stderr

    assert run.returncode == 1, report[-4000:]  # 1: tests failed (not 2-4: an error, an interruption)
    assert "1 failed" in report, report[-4000:]
    # It failed on Inbox's own answer: every call claims two new items, where a retry must write none
    # (the item counts it passed on the way: the overwritten items look like one per user).
    assert ">       assert sum(new_items) == len(USERS), new_items" in report, report[-4000:]
    assert "AssertionError: [2, 2, 2]" in report, report[-4000:]
