"""Bombs: inputs built to exhaust time or memory are refused with their typed error, in bounded memory.

Every case (``bombs.py``) runs with the parser's default ``Limits`` (what the Parse function uses)
under ``tracemalloc``: its outcome and its peak of Python allocations (the input, built beforehand,
is not counted) are recorded, and the peak is bounded (``PEAK_BOUND_BYTES``). Time is not asserted
(speed is measured in bench/ only: ``bench/bench_bombs.py``); a hang guard (pytest-timeout) fails a
case that runs for minutes, as each of these did before its fix.
"""

from __future__ import annotations

import base64
import gc
import tracemalloc

import pytest
from bombs import BOMBS, FULL, gzip_stream, rfc822_nesting, run, tnef_shared_prefix
from mail_factory import b64_lines
from mailroom.mime import parse_email
from mailroom.mime.parser import MIB
from security_helpers import Figures

PEAK_BOUND_BYTES = 200 * MIB
HANG_GUARD_SECONDS = 120  # each case takes from a millisecond to a few seconds; before the fixes, minutes to hours


@pytest.mark.timeout(HANG_GUARD_SECONDS)
@pytest.mark.parametrize("name", list(BOMBS))
def test_a_bomb_is_refused_with_its_typed_error_in_bounded_memory(name: str, figures: Figures) -> None:
    bomb = BOMBS[name]
    if bomb.full_only and not FULL:
        pytest.skip("inflates 440 MB twice: runs under make security (MAILROOM_SECURITY_FULL=1)")
    raw = bomb.build()
    gc.collect()

    tracemalloc.start()
    try:
        outcome, _ = run(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    figures.record("bombs", name, input_bytes=len(raw), outcome=outcome, peak_mib=peak / MIB)
    assert outcome == (bomb.error.__name__ if bomb.error else "result")
    assert peak < PEAK_BOUND_BYTES


def test_the_shared_prefix_tnef_files_keep_their_own_bytes() -> None:
    parsed = parse_email(tnef_shared_prefix())
    sizes = sorted(a.size for a in parsed.attachments)
    assert sizes == [5] * 150 + [5 + 256 * 4096]


def test_nested_messages_are_kept_whole_as_one_attachment_named_by_the_outer_subject() -> None:
    parsed = parse_email(rfc822_nesting("7bit", 1000)())
    assert [(a.filename, a.safe_filename, a.nested_message) for a in parsed.attachments] == [
        (None, "level 998.eml", True)
    ]
    assert parsed.subject == "level 999"


def test_the_b64_helper_round_trips_so_bomb_sizes_are_real() -> None:
    assert base64.b64decode(b64_lines(gzip_stream(2 * MIB))) == gzip_stream(2 * MIB)
