"""Parse throughput and peak memory: `mailroom.mime.parse_email` against the stdlib email parser."""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import gc
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from mailroom.mime import parse_email
from mailroom.mime.content import DigestOnlyStore, MemoryStore
from scanner_mail import scanner_mail

# Method. Throughput is the raw message size over the best wall time of a few interleaved runs, all
# in this process. Memory is measured per (size, parser) case in a fresh interpreter (`--case`), so
# that no case sees another's heap: the child warms the parser up on a small mail (lazy imports,
# regex caches), reads the message file (`read_bytes` of N bytes allocates N), resets the kernel's
# peak-RSS mark (`/proc/self/clear_refs` = 5, so neither interpreter start-up nor the read counts),
# parses, and reports (peak RSS - RSS before parse + N) / N: the memory held while parsing, the
# message included, as a multiple of the message. VmHWM is the counter `ru_maxrss` reports, but
# resettable; `ru_maxrss` alone would still carry earlier peaks. A second child reports
# (tracemalloc peak + N) / N the same way; tracemalloc slows parsing, so that run is never timed.

MIB = 1024 * 1024
SIZES = ((1, 50), (10, 12), (40, 6))  # (message MiB, timing runs)
SPEED_TARGET = 8.0  # × stdlib throughput
MEMORY_TARGET = 2.5  # × message size, peak


def parse_stdlib(raw: bytes) -> list[str]:
    """Stdlib: parse, decode text bodies, decode every attachment and hash it (decoded bytes held)."""
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    for kind in ("plain", "html"):
        body = msg.get_body(preferencelist=(kind,))
        if body is not None:
            body.get_content()
    contents = [part.get_content() for part in msg.iter_attachments()]
    return [hashlib.sha256(content).hexdigest() for content in contents]


def parse_memory(raw: bytes) -> list[str]:
    """mailroom, keeping each attachment's decoded bytes in memory."""
    return [a.sha256 for a in parse_email(raw, store=MemoryStore()).attachments]


def parse_digest(raw: bytes) -> list[str]:
    """mailroom, keeping only each attachment's size and sha256."""
    return [a.sha256 for a in parse_email(raw, store=DigestOnlyStore()).attachments]


PARSERS: dict[str, Callable[[bytes], list[str]]] = {
    "stdlib": parse_stdlib,
    "memory": parse_memory,
    "digest": parse_digest,
}
LABELS = {
    "stdlib": "stdlib `BytesParser` + `get_content`",
    "memory": "mailroom `MemoryStore`",
    "digest": "mailroom `DigestOnlyStore`",
}


def vm_kib(field: str) -> int:
    """A `/proc/self/status` memory figure in KiB (VmRSS now, VmHWM peak)."""
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    assert match, field
    return int(match.group(1))


def measure(name: str, path: Path, traced: bool) -> float:
    """Peak memory while `name` parses the message at `path`, message included, ÷ message size."""
    parse = PARSERS[name]
    parse(scanner_mail(256 * 1024, seed=99).raw)
    gc.collect()
    raw = path.read_bytes()
    if traced:
        tracemalloc.start()
        parse(raw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        Path("/proc/self/clear_refs").write_text("5")
        before = vm_kib("VmRSS")
        parse(raw)
        peak = (vm_kib("VmHWM") - before) * 1024
    return (peak + len(raw)) / len(raw)


def child(name: str, path: Path, traced: bool) -> float:
    """Run `measure` in a fresh interpreter."""
    args = [sys.executable, str(Path(__file__).resolve()), "--case", name, str(path)]
    out = subprocess.run([*args, "--traced"] if traced else args, check=True, capture_output=True, text=True)
    return float(out.stdout)


def best_times(raw: bytes, expected: list[str], runs: int) -> dict[str, float]:
    """Best wall time of each parser over `runs` interleaved runs; every result checked."""
    best = dict.fromkeys(PARSERS, float("inf"))
    for _ in range(runs):
        for name, parse in PARSERS.items():
            start = time.perf_counter()
            digests = parse(raw)
            best[name] = min(best[name], time.perf_counter() - start)
            assert digests == expected, f"{name}: attachment sha256 {digests} != generated {expected}"
    return best


def table(rows: list[list[str]]) -> str:
    """A markdown table; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def verdict(values: list[float], ok: Callable[[float], bool]) -> str:
    """'met' when every value is `ok`, else 'NOT met' and how many miss."""
    bad = [v for v in values if not ok(v)]
    return "met" if not bad else f"NOT met ({len(bad)} of {len(values)} cases)"


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in load)


def main() -> None:
    """Generate 1, 10 and 40 MiB scanner mails and print throughput and memory against the stdlib."""
    header = ["message", "parser", "MiB/s", "× stdlib", "peak RSS ÷ msg", "tracemalloc peak ÷ msg"]
    rows = [header]
    load_before = os.getloadavg()
    speedups: list[float] = []
    peaks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for mib, runs in SIZES:
            mail = scanner_mail(mib * MIB, seed=mib)
            path = Path(tmp) / f"scanner_{mib}.eml"
            path.write_bytes(mail.raw)
            times = best_times(mail.raw, mail.sha256, runs)
            size = len(mail.raw) / MIB
            for name in PARSERS:
                speedup = times["stdlib"] / times[name]
                rss, traced = child(name, path, False), child(name, path, True)
                if name != "stdlib":
                    speedups.append(speedup)
                    peaks.append(rss)
                rows.append(
                    [
                        f"{len(mail.raw):,} B" if name == "stdlib" else "",
                        LABELS[name],
                        f"{size / times[name]:.0f}",
                        f"{speedup:.1f}×",
                        f"{rss:.2f}×",
                        f"{traced:.2f}×",
                    ]
                )
    load_after = os.getloadavg()
    print(f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    cpus = os.cpu_count()
    print(f"Load average (1, 5, 15 min): {_load(load_before)} before, {_load(load_after)} after, {cpus} CPUs")
    print(f"Parse: best of {'/'.join(str(r) for _, r in SIZES)} runs; memory in a fresh process per case.\n")
    print(table(rows))
    print(
        f"\nTarget: parse ≥ {SPEED_TARGET:g}× stdlib throughput: "
        f"{verdict(speedups, lambda v: v >= SPEED_TARGET)}; worst {min(speedups):.1f}×"
    )
    print(
        f"Target: peak ≤ {MEMORY_TARGET:g}× the message (RSS): "
        f"{verdict(peaks, lambda v: v <= MEMORY_TARGET)}; worst {max(peaks):.2f}×"
    )


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--case", nargs=2, metavar=("PARSER", "FILE"), help="measure one case (internal)")
    cli.add_argument("--traced", action="store_true", help="with --case: tracemalloc peak, not RSS")
    options = cli.parse_args()
    if options.case:
        print(measure(options.case[0], Path(options.case[1]), options.traced))
    else:
        main()
