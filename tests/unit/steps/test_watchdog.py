"""The Watchdog's steps on fakes: restarts before the redrive window closes, and the sweep of unannounced emails.

The fake status store answers with every record it holds and notes the cutoff it was asked for:
which records are before the cutoff is the real query's job (tests/handlers/test_watchdog.py, on moto).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mailroom.lifecycle import execution_name
from mailroom.steps.watchdog import sweep, watch

MID = "0" * 20 + "abcdefghijklmnopqrst"
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


class Status:
    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records = records or []
        self.restarted: list[tuple[str, str]] = []
        self.cutoffs: list[str] = []

    def failed_since_before(self, cutoff: str) -> Sequence[Mapping[str, Any]]:
        self.cutoffs.append(cutoff)
        return self.records

    def mark_restarted(self, message_id: str, *, execution_arn: str, now: str) -> None:
        self.restarted.append((message_id, execution_arn))


class Executions:
    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.started: list[tuple[str, str]] = []

    def input_of(self, execution_arn: str) -> str | None:
        return json.dumps({"message_id": MID}) if execution_arn else None

    def start_named(self, name: str, payload: str) -> str | None:
        if name in self.taken:
            return None
        self.taken.add(name)
        self.started.append((name, payload))
        return f"arn:aws:states:eu-west-1:123456789012:execution:m:{name}"


def test_the_watchdog_asks_for_emails_failed_before_the_threshold_and_restarts_them_under_the_next_free_name() -> None:
    status = Status([{"message_id": MID, "updated_at": "2026-11-14T00:00:00.000+00:00", "execution_arn": "arn:old"}])
    executions = Executions(taken={execution_name(MID, 1)})
    restarted = watch(status=status, executions=executions, now=NOW, restart_after=dt.timedelta(days=12))
    assert status.cutoffs == ["2026-11-15T00:00:00.000+00:00"]  # the format updated_at is written in
    assert [r.message_id for r in restarted] == [MID]
    assert executions.started == [(f"{MID}-r2", json.dumps({"message_id": MID}))]
    assert status.restarted == [(MID, f"arn:aws:states:eu-west-1:123456789012:execution:m:{MID}-r2")]


def test_the_watchdog_leaves_an_email_without_a_stored_input_failed() -> None:
    status = Status([{"message_id": MID, "updated_at": "2000-01-01", "execution_arn": ""}])
    assert watch(status=status, executions=Executions(set()), now=NOW, restart_after=dt.timedelta(days=12)) == []
    assert status.restarted == []


class Listing:
    def __init__(self, objects: dict[str, dt.datetime]) -> None:
        self.objects = objects

    def list_objects(self, bucket: str, prefix: str) -> Iterable[tuple[str, dt.datetime]]:
        return [(prefix + name, modified) for name, modified in self.objects.items()]


class Records:
    def __init__(self, known: set[str]) -> None:
        self.known_ids = known
        self.asked: list[list[str]] = []
        self.marked: list[tuple[str, str]] = []

    def known(self, message_ids: Sequence[str]) -> set[str]:
        self.asked.append(sorted(message_ids))
        return self.known_ids & set(message_ids)

    def mark_unenveloped(self, message_id: str, *, received_at: str, now: str) -> bool:
        self.marked.append((message_id, received_at))
        return True


def test_the_sweep_records_stored_emails_in_its_window_without_a_status_record_and_ignores_other_keys() -> None:
    old, young, ancient, announced = "a" * 40, "b" * 40, "c" * 40, "d" * 40
    listing = Listing(
        {
            old: NOW - dt.timedelta(minutes=20),
            young: NOW - dt.timedelta(minutes=5),  # its notification may still be on the way
            ancient: NOW - dt.timedelta(hours=49),  # past the lookback: earlier sweeps saw it
            announced: NOW - dt.timedelta(minutes=30),
            "AMAZON_SES_SETUP_NOTIFICATION": NOW - dt.timedelta(hours=1),
            "not-an-ses-id": NOW - dt.timedelta(hours=1),
        }
    )
    records = Records(known={announced})

    recorded = sweep(
        objects=listing,
        status=records,
        bucket="incoming",
        prefix="inbound/",
        now=NOW,
        older_than=dt.timedelta(minutes=15),
        lookback=dt.timedelta(hours=48),
    )

    assert recorded == [old]
    assert records.asked == [sorted([old, announced])]
    assert records.marked == [(old, (NOW - dt.timedelta(minutes=20)).isoformat(timespec="milliseconds"))]
