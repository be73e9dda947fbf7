"""Record: frozen keyword-only records, without dataclasses' per-class code generation."""

from __future__ import annotations

from typing import ClassVar

import pytest
from mailroom.records import Record


class Point(Record):
    x: int
    y: int = 0
    label: str | None = None
    _scale: ClassVar[int] = 10  # not a field

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("x must be 0 or more")


class Point3(Point):
    z: int


def test_fields_come_from_annotations_with_class_attributes_as_defaults() -> None:
    p = Point(x=1)

    assert (p.x, p.y, p.label) == (1, 0, None)
    assert repr(p) == "Point(x=1, y=0, label=None)"
    assert Point3(x=1, z=3)._record_fields == ("x", "y", "label", "z")


def test_records_compare_and_hash_by_field_and_type() -> None:
    assert Point(x=1, y=2) == Point(x=1, y=2)
    assert Point(x=1) != Point(x=2)
    assert Point(x=1, y=0) != Point3(x=1, z=0)
    assert len({Point(x=1), Point(x=1)}) == 1


def test_a_record_is_frozen_and_replace_checks_again() -> None:
    p = Point(x=1)
    with pytest.raises(AttributeError):
        p.x = 2  # type: ignore[misc]

    assert p.__replace__(y=5) == Point(x=1, y=5)
    with pytest.raises(ValueError, match="x must be"):
        p.__replace__(x=-1)


def test_missing_and_unknown_keywords_are_type_errors() -> None:
    with pytest.raises(TypeError, match="'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected"):
        Point(x=1, w=2)  # type: ignore[call-arg]


def test_fields_marked_unprinted_stay_out_of_repr() -> None:
    class Secret(Record):
        _record_unprinted: ClassVar[frozenset[str]] = frozenset({"key"})
        name: str
        key: bytes

    assert repr(Secret(name="n", key=b"k")) == "Secret(name='n')"
