"""Shared by the security suites: where they record what they measured (printed by ``conftest.py``),
and what a safe file name is."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.I)


def assert_safe_name(name: str) -> None:
    """A name that cannot leave a directory, hide, or be a device: what archives and downloads rely on."""
    assert name, "an empty name"
    assert name == name.strip(" ."), name
    assert not set(name) & set('/\\<>:"|?*\x00'), name
    assert all(unicodedata.category(c)[0] != "C" for c in name), name
    assert not WINDOWS_DEVICES.match(name), name
    assert len(name.encode("utf-8")) <= 180, name
    for flavour in (PurePosixPath, PureWindowsPath):
        assert flavour(name).name == name, name
        assert len(flavour(name).parts) == 1, name


class Figures:
    """Named tables of measured figures: ``record(table, row, key=value, ...)`` merges into one row."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}

    def record(self, table: str, row: str, **values: Any) -> None:
        """Set ``values`` on ``row`` of ``table``."""
        self.tables.setdefault(table, {}).setdefault(row, {}).update(values)

    def add(self, table: str, row: str, key: str, amount: float = 1) -> None:
        """Add ``amount`` to a counter."""
        current = self.tables.setdefault(table, {}).setdefault(row, {})
        current[key] = current.get(key, 0) + amount

    def maximum(self, table: str, row: str, key: str, value: float) -> None:
        """Keep the largest ``value`` seen for ``key``."""
        current = self.tables.setdefault(table, {}).setdefault(row, {})
        current[key] = max(current.get(key, value), value)


FIGURES = Figures()
