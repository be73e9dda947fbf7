"""docs/local-fidelity.md names a test for each enforced or emulated row: those tests must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "local-fidelity.md"


def _rows() -> list[list[str]]:
    lines = [line for line in TABLE.read_text().splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def _defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^def (test_\w+)", path.read_text(), flags=re.MULTILINE))
    return names


def test_every_enforced_or_emulated_row_names_tests_that_exist() -> None:
    rows = _rows()
    assert len(rows) >= 20
    defined = _defined_tests()
    checked = 0
    for behaviour, _, local, how in rows:
        named = re.findall(r"\btest_\w+\b(?!\.py)", how)  # test names, not test modules
        if local.startswith(("enforced", "emulated", "static")):
            assert named, f"no test named for {behaviour!r}"
        for name in named:
            assert name in defined, f"{name} (for {behaviour!r}) is no test"
            checked += 1
    assert checked >= 15
