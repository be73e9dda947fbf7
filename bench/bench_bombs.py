"""How long the parser takes to refuse each bomb (tests/security/bombs.py): timed here, never asserted.

    .venv/bin/python bench/bench_bombs.py                               # CI sizes
    MAILROOM_SECURITY_FULL=1 .venv/bin/python bench/bench_bombs.py      # full sizes (as make security)

The tests check each bomb's typed error and peak memory under a hang guard; speed is measured here
only. Each case is built first (not timed), then parsed ``--runs`` times; the table shows the best
and the worst wall time, with the parser's default Limits (what the Parse function uses).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(TESTS / "security"), str(TESTS)]  # the bomb catalogue and the mail factory it uses

from bombs import BOMBS, FULL, run  # noqa: E402


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KB", 1000)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _seconds(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def main(argv: list[str] | None = None) -> None:
    """Print one markdown row per bomb: input size, outcome, best and worst time."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="parses per bomb (default 3)")
    args = parser.parse_args(argv)
    print(f"Bombs at {'full' if FULL else 'CI'} size, best and worst of {args.runs} parses.\n")
    print("| case | input | outcome | best | worst |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, bomb in BOMBS.items():
        if bomb.full_only and not FULL:
            continue
        raw = bomb.build()
        times, outcome = [], ""
        for _ in range(args.runs):
            gc.collect()
            started = time.perf_counter()
            outcome, result = run(raw)
            times.append(time.perf_counter() - started)
            del result
        best, worst = _seconds(min(times)), _seconds(max(times))
        print(f"| {name} | {_size(len(raw))} | `{outcome}` | {best} | {worst} |", flush=True)


if __name__ == "__main__":
    main()
