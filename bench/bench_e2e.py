"""End to end on the local stack: SMTP in → SES format in S3 → SQS → Starter → Step Functions → inbox.

Starts a private ``LocalStack`` on free ports (moto in server mode, the real template, ASL and
handlers), registers one mailbox, sends N one-attachment emails over plain SMTP from a few client
threads, waits (with a deadline) for every email's outcome, then prints:

- throughput: delivered emails per second, from the first SMTP connection to the last ``delivered_at``;
- stack CPU per email: the emulator process's user + system CPU from the first send to the last
  outcome, minus the bench's own status polling (``time.thread_time`` around it), plus the CPU of the
  Lambda execution environments (worker processes; /proc, and reaped children). The SMTP clients
  are senders from outside: threads in a process of their own, not counted;
- latency p50/p95: ``delivered_at − received_at`` (the status record: S3 event time → Inbox done) and
  ``delivered_at − SMTP send start`` (what a sender sees, SMTP and encryption included);
- state transitions per email, counted as ``…StateEntered`` events in a sample of execution histories;
- Lambda durations per function (p50/p95/max, from the runtime's observer; the Starter once per batch);
- failures of any kind (step errors, non-delivered outcomes, deadline misses);
- the baseline in the same run: the same emails decrypted and parsed directly in this process
  (``decrypt_ses_object`` + ``parse_email``, no AWS emulation): an upper bound, and the ratio to it.

This is moto on this machine (2 vCPUs shared by moto, the ASL interpreter, the handlers, the SMTP
listener and this client): it measures our code plus the emulation, not AWS.

    .venv/bin/python bench/bench_e2e.py                         # 200 emails with a ~100 KB attachment
    .venv/bin/python bench/bench_e2e.py --emails 200,1000 --json out.json
    .venv/bin/python bench/bench_e2e.py --emails 200 --attachment-kb 1024
    .venv/bin/python bench/bench_e2e.py --emails 50 --no-iam        # without local IAM enforcement, to compare
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import multiprocessing
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from mailroom.crypto import decrypt_ses_object
from mailroom.mime import parse_email
from mailroom.mime.content import MemoryStore

from mailroom_cli import operations as ops
from mailroom_cli.local.runtime import Invocation
from mailroom_cli.local.ses_producer import MemorySink
from mailroom_cli.local.stack import LocalOptions, LocalStack
from mailroom_cli.target import Target, from_local

OUTCOMES = ("delivered", "quarantined", "unroutable", "duplicate", "failed")
PDF_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
PDF_TAIL = b"\n%%EOF\n"
SENDER = "scanner@office.example"
ACCOUNT = "123456789012"
STEP_ORDER = ("StarterFunction", "DecryptFunction", "ParseFunction", "ArchiveFunction", "InboxFunction")


# --------------------------------------------------------------------------- the emails


def scan_email(index: int, *, to: str, attachment_bytes: int, seed: int) -> bytes:
    """A scanner-like email: a short note and one PDF of ``attachment_bytes`` incompressible bytes."""
    rng = random.Random(seed * 1_000_003 + index)
    body = rng.randbytes(max(0, attachment_bytes - len(PDF_HEAD) - len(PDF_TAIL)))
    message = EmailMessage()
    message["From"] = f"Office Scanner <{SENDER}>"
    message["To"] = to
    message["Subject"] = f"Scan {index:05d} from the 3rd floor"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=f"bench{index}", domain="office.example")
    message.set_content("Scanned document attached.\n")
    message.add_attachment(
        PDF_HEAD + body + PDF_TAIL, maintype="application", subtype="pdf", filename=f"scan_{index:05d}.pdf"
    )
    return message.as_bytes(policy=SMTP)


# --------------------------------------------------------------------------- baseline: in-process


class _FixedKey:
    """KeyService stand-in: the baseline measures our compute, not KMS."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str]) -> bytes:
        return self.key

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        raise NotImplementedError


def in_process(emails: list[bytes]) -> dict[str, float]:
    """Decrypt (SES format, fixed key) and parse each email in this thread: emails/s and per-email ms."""
    message_id = "0123456789abcdefghijklmnopqrstuv01234567"
    matdesc = {
        "aws:ses:message-id": message_id,
        "aws:ses:rule-name": "bench",
        "aws:ses:source-account": ACCOUNT,
        "kms_cmk_id": "arn:aws:kms:eu-west-1:123456789012:key/bench",
    }
    key, iv = os.urandom(32), os.urandom(12)
    metadata = {
        "x-amz-key-v2": base64.b64encode(b"wrapped").decode(),
        "x-amz-iv": base64.b64encode(iv).decode(),
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-wrap-alg": "kms",
        "x-amz-tag-len": "128",
        "x-amz-matdesc": json.dumps(matdesc),
    }
    keys = _FixedKey(key)
    sealed = [AESGCM(key).encrypt(iv, raw, None) for raw in emails]
    per_email: list[float] = []
    parse_email(emails[0], store=MemoryStore())  # warm-up: lazy imports and regex caches are not per email
    start = time.perf_counter()
    for raw, ciphertext in zip(emails, sealed, strict=True):
        one = time.perf_counter()
        sink = MemorySink()
        decrypt_ses_object(
            io.BytesIO(ciphertext),
            metadata={**metadata, "x-amz-unencrypted-content-length": str(len(raw))},
            size=len(ciphertext),
            keys=keys,
            sink=sink,
            expected_account=ACCOUNT,
            expected_message_id=message_id,
        )
        assert sink.value is not None
        parsed = parse_email(sink.value, store=MemoryStore())
        assert len(parsed.attachments) == 1
        per_email.append((time.perf_counter() - one) * 1000)
    elapsed = time.perf_counter() - start
    return {
        "emails_per_s": len(emails) / elapsed,
        "ms_p50": percentile(per_email, 50),
        "ms_p95": percentile(per_email, 95),
    }


# --------------------------------------------------------------------------- the run on the stack


@dataclass
class Sent:
    """One email as the client saw it."""

    index: int
    started: float  # time.time() at SMTP connect
    finished: float  # time.time() at the 250 reply to DATA
    message_id: str | None = None
    error: str | None = None


def _send_all(smtp: str, mailbox: str, emails: list[bytes], threads: int) -> list[Sent]:
    """Send every email from ``threads`` SMTP clients (run in the senders' process, apart from the stack's)."""

    def send(index: int) -> Sent:
        started = time.time()
        try:
            reply = ops.send_raw(smtp, emails[index], to=[mailbox], sender=SENDER)
        except Exception as exc:
            return Sent(index, started, time.time(), error=f"{type(exc).__name__}: {exc}")
        return Sent(index, started, time.time(), message_id=reply.split()[-1])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(send, range(len(emails))))


def _ready() -> bool:
    return True


@dataclass
class Observed:
    """Lambda invocations, collected by the runtime's observer (it runs on the invoking thread)."""

    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, invocation: Invocation) -> None:
        with self.lock:
            self.durations[invocation.function.logical_id].append(invocation.duration_ms)
            if invocation.error_type:
                self.errors[(invocation.function.logical_id, invocation.error_type)] += 1


def percentile(values: list[float], pct: int) -> float:
    """The ``pct``-th percentile (inclusive method); NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _parse_iso(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _status_records(target: Target) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    pages = target.client("dynamodb").get_paginator("scan").paginate(TableName=target.name("StatusTableName"))
    for page in pages:
        for item in page.get("Items", []):
            record = {k: next(iter(v.values())) for k, v in item.items()}
            records[record["message_id"]] = record
    return records


def _failed_executions(target: Target) -> set[str]:
    names: set[str] = set()
    sfn = target.client("stepfunctions")
    for status in ("FAILED", "TIMED_OUT", "ABORTED"):
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=target.name("StateMachineArn"), statusFilter=status
        )
        for page in pages:
            names.update(e["name"] for e in page["executions"])
    return names


def _transitions(target: Target, message_ids: list[str]) -> Counter[int]:
    """How many states each sampled execution entered (each entered state is one billed transition)."""
    sfn = target.client("stepfunctions")
    machine = target.name("StateMachineArn").replace(":stateMachine:", ":execution:")
    counts: Counter[int] = Counter()
    for message_id in message_ids:
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=f"{machine}:{message_id}"):
            events.extend(page["events"])
        counts[sum(1 for e in events if e["type"].endswith("StateEntered"))] += 1
    return counts


def _one_at_a_time(target: Target, smtp: str, mailbox: str, emails: list[bytes], observed: Observed) -> dict[str, Any]:
    """Send each email only once the previous one is delivered: latency and step durations without queueing."""
    pipeline_ms, wall_ms = [], []
    first = {name: len(values) for name, values in observed.durations.items()}
    for raw in emails:
        started = time.time()
        message_id = ops.send_raw(smtp, raw, to=[mailbox], sender=SENDER).split()[-1]
        deadline = time.monotonic() + 60
        record: dict[str, Any] = {}
        while time.monotonic() < deadline:
            item = target.client("dynamodb").get_item(
                TableName=target.name("StatusTableName"), Key={"message_id": {"S": message_id}}, ConsistentRead=True
            )
            record = {k: next(iter(v.values())) for k, v in item.get("Item", {}).items()}
            if record.get("status") in OUTCOMES[:-1]:
                break
            time.sleep(0.02)
        received, finished = _parse_iso(record.get("received_at")), _parse_iso(record.get("delivered_at"))
        if received is not None and finished is not None:
            pipeline_ms.append((finished - received) * 1000)
            wall_ms.append((finished - started) * 1000)
    with observed.lock:
        steps = {
            name: percentile(values[first.get(name, 0) :], 50)
            for name, values in sorted(observed.durations.items(), key=lambda kv: _step_rank(kv[0]))
        }
    return {
        "emails": len(emails),
        "delivered": len(pipeline_ms),
        "pipeline_ms": {"p50": percentile(pipeline_ms, 50), "p95": percentile(pipeline_ms, 95)},
        "wall_ms": {"p50": percentile(wall_ms, 50), "p95": percentile(wall_ms, 95)},
        "step_p50_ms": steps,
    }


class _OwnCpu:
    """CPU time spent inside ``with`` blocks on any thread (``time.thread_time``): the bench's own work.

    With the stack's in-process transport a poll's moto work runs on the polling thread too, so it is
    counted here, not as the stack's."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()

    def __enter__(self) -> None:
        self._local.start = time.thread_time()

    def __exit__(self, *exc: object) -> None:
        spent = time.thread_time() - self._local.start
        with self._lock:
            self.seconds += spent


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _environments_cpu_seconds(stack: LocalStack) -> float:
    """CPU of the Lambda environments (worker processes): live ones from /proc, ended ones as reaped children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = children.ru_utime + children.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in getattr(stack.runtime, "environment_pids", list)():  # before the environments: none
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended between the listing and the read: counted as a reaped child next time
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)
    return total


def run_case(
    count: int,
    senders: ProcessPoolExecutor,
    *,
    attachment_kb: int,
    threads: int,
    deadline_s: float,
    history_sample: int,
    seed: int,
    singles: int,
    enforce_iam: bool = True,
) -> dict[str, Any]:
    """One fresh stack, ``count`` emails; every figure of one table row. ``senders`` runs the SMTP clients."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        log_path = Path(tmp) / "lambda.log"
        options = LocalOptions(aws_port=0, smtp_port=0, retry_scale=0.001, lambda_log=log_path, enforce_iam=enforce_iam)
        boot = time.perf_counter()
        with LocalStack(options) as stack:
            boot_s = time.perf_counter() - boot
            target = from_local(stack.info())
            observed = Observed()
            stack.observe(observed)
            mailbox = f"bench@{target.name('RecipientDomain')}"
            ops.add_mailbox(target, mailbox, user="bench")
            smtp = stack.info()["smtp"]
            emails = [scan_email(i, to=mailbox, attachment_bytes=attachment_kb * 1024, seed=seed) for i in range(count)]
            # Warm-up and the unloaded figures: a few distinct emails, one at a time (not counted below).
            warm = [
                scan_email(count + i, to=mailbox, attachment_bytes=attachment_kb * 1024, seed=seed)
                for i in range(singles)
            ]
            print(f"  stack up in {boot_s:.1f} s; {singles} emails one at a time ...", file=sys.stderr, flush=True)
            unloaded = _one_at_a_time(target, smtp, mailbox, warm, observed) if singles else None
            with observed.lock:
                observed.durations.clear()
                observed.errors.clear()
            log_start = log_path.stat().st_size if log_path.exists() else 0
            print(
                f"  sending {count} emails of {len(emails[0]):,} B from {threads} SMTP threads ...",
                file=sys.stderr,
                flush=True,
            )
            cpu_start = _cpu_seconds()
            environments_cpu_start = _environments_cpu_seconds(stack)
            own_cpu = _OwnCpu()  # the bench's status polling: not the stack's CPU
            sent = senders.submit(_send_all, smtp, mailbox, emails, threads).result()
            accepted = {s.message_id: s for s in sent if s.message_id}
            send_done = max(s.finished for s in sent)
            print(f"  sent in {send_done - sent[0].started:.1f} s; waiting for outcomes ...", file=sys.stderr)

            # Wait for every accepted email's outcome, or the deadline.
            deadline = time.monotonic() + deadline_s
            records: dict[str, dict[str, Any]] = {}
            failed_runs: set[str] = set()
            pending = set(accepted)
            rounds = 0
            while pending and time.monotonic() < deadline:
                time.sleep(2.0)  # each round scans the status table: keep the bench's own load small
                with own_cpu:
                    records = _status_records(target)
                    if rounds % 5 == 0 or len(pending) < 10:
                        failed_runs = _failed_executions(target)
                rounds += 1
                pending = {
                    m
                    for m in accepted
                    if records.get(m, {}).get("status") not in OUTCOMES[:-1] and m not in failed_runs
                }
            environments_cpu_s = _environments_cpu_seconds(stack) - environments_cpu_start
            process_cpu_s = _cpu_seconds() - cpu_start
            # The stack's share: the emulator's process without the bench's SMTP clients and polling,
            # plus the Lambda environments' processes.
            cpu_s = process_cpu_s - own_cpu.seconds + environments_cpu_s
            waited_s = time.time() - send_done
            log_bytes = (log_path.stat().st_size if log_path.exists() else 0) - log_start
            delivered = [m for m in accepted if records.get(m, {}).get("status") == "delivered"]
            sample = delivered[:history_sample] if history_sample > 0 else delivered
            transitions = _transitions(target, sample)
        baseline = in_process(emails[: min(count, 200)])
    load_after = os.getloadavg()

    pipeline_ms, wall_ms, done_at = [], [], []
    for message_id in delivered:
        record, client = records[message_id], accepted[message_id]
        received, finished = _parse_iso(record.get("received_at")), _parse_iso(record.get("delivered_at"))
        if received is None or finished is None:
            continue
        pipeline_ms.append((finished - received) * 1000)
        wall_ms.append((finished - client.started) * 1000)
        done_at.append(finished)
    first = min(s.started for s in sent)
    elapsed = (max(done_at) - first) if done_at else float("nan")
    outcomes = Counter(records.get(m, {}).get("status", "none") for m in accepted)
    outcomes["failed (execution)"] += len(failed_runs & set(accepted))
    outcomes = +outcomes  # drop zero counts
    stepped = {
        name: {
            "invocations": len(values),
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "max_ms": max(values),
        }
        for name, values in sorted(observed.durations.items(), key=lambda kv: _step_rank(kv[0]))
    }
    emails_per_s = len(done_at) / elapsed if done_at else 0.0
    return {
        "emails": count,
        "email_bytes": len(emails[0]),
        "attachment_kb": attachment_kb,
        "smtp_threads": threads,
        "stack_boot_s": boot_s,
        "send_s": send_done - first,
        "elapsed_s": elapsed,
        "waited_after_send_s": waited_s,
        "delivered": len(done_at),
        "emails_per_s": emails_per_s,
        "cpu_ms_per_email": cpu_s * 1000 / max(1, len(accepted)),
        "process_cpu_ms_per_email": process_cpu_s * 1000 / max(1, len(accepted)),
        "emulator_cpu_ms_per_email": (process_cpu_s - own_cpu.seconds) * 1000 / max(1, len(accepted)),
        "environments_cpu_ms_per_email": environments_cpu_s * 1000 / max(1, len(accepted)),
        "bench_own_cpu_ms_per_email": own_cpu.seconds * 1000 / max(1, len(accepted)),
        "loadavg_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "pipeline_ms": {"p50": percentile(pipeline_ms, 50), "p95": percentile(pipeline_ms, 95)},
        "wall_ms": {"p50": percentile(wall_ms, 50), "p95": percentile(wall_ms, 95)},
        "unloaded": unloaded,
        "transitions": {str(k): v for k, v in sorted(transitions.items())},
        "histories_sampled": len(sample),
        "lambda": stepped,
        "lambda_log_bytes_per_email": log_bytes / max(1, len(accepted)),
        "outcomes": dict(outcomes),
        "send_errors": [s.error for s in sent if s.error][:5],
        "send_error_count": sum(1 for s in sent if s.error),
        "invocation_errors": {f"{fn}: {err}": n for (fn, err), n in observed.errors.items()},
        "not_done_at_deadline": len(pending),
        "baseline": baseline,
        "ratio_to_in_process": emails_per_s / baseline["emails_per_s"] if baseline["emails_per_s"] else 0.0,
    }


def _step_rank(logical_id: str) -> int:
    return STEP_ORDER.index(logical_id) if logical_id in STEP_ORDER else len(STEP_ORDER)


# --------------------------------------------------------------------------- output


def _ms(value: float) -> str:
    return "–" if value != value else f"{value:,.0f}"  # NaN: no value


def _run(r: dict[str, Any]) -> str:
    return f"{r['emails']:,} × {r['email_bytes'] / 1024:,.0f} KiB"


def _cpu_split(r: dict[str, Any]) -> str:
    if "environments_cpu_ms_per_email" not in r:  # an older --json file: handlers ran in the bench's process
        return f"{r['cpu_ms_per_email']:,.0f} ({r.get('process_cpu_ms_per_email', r['cpu_ms_per_email']):,.0f})"
    return (
        f"{r['cpu_ms_per_email']:,.0f} = {r['emulator_cpu_ms_per_email']:,.0f} + "
        f"{r['environments_cpu_ms_per_email']:,.0f} ({r['process_cpu_ms_per_email']:,.0f})"
    )


def tables(rows: list[dict[str, Any]]) -> str:
    """Markdown: throughput and latency per case, transitions, Lambda durations, failures."""
    out = [
        "| emails | email size | SMTP threads | delivered | emails/s | in-process emails/s | e2e ÷ in-process "
        "| CPU ms per email: stack = emulator + Lambda environments (bench process) "
        "| S3 event → delivered p50 / p95 ms "
        "| SMTP send → delivered p50 / p95 ms "
        "| load avg before → after |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        out.append(
            f"| {r['emails']:,} | {r['email_bytes'] / 1024:,.0f} KiB | {r['smtp_threads']} | {r['delivered']:,} "
            f"| {r['emails_per_s']:.2f} | {r['baseline']['emails_per_s']:.0f} | {r['ratio_to_in_process']:.4f} "
            f"| {_cpu_split(r)} "
            f"| {_ms(r['pipeline_ms']['p50'])} / {_ms(r['pipeline_ms']['p95'])} "
            f"| {_ms(r['wall_ms']['p50'])} / {_ms(r['wall_ms']['p95'])} "
            f"| {r['loadavg_before_after'][0]:.1f} → {r['loadavg_before_after'][1]:.1f} |"
        )
    singles = [r for r in rows if r.get("unloaded")]
    if singles:
        out += [
            "",
            "One at a time (before each run, each email sent once the previous one was delivered: no queueing):",
            "",
            "| run | emails | S3 event → delivered p50 / p95 ms | SMTP send → delivered p50 / p95 ms "
            "| step p50 ms (Starter / Decrypt / Parse / Archive / Inbox) |",
            "| ---: | ---: | ---: | ---: | --- |",
        ]
        for r in singles:
            u = r["unloaded"]
            steps = " / ".join(_ms(u["step_p50_ms"].get(name, float("nan"))) for name in STEP_ORDER)
            pipeline = f"{_ms(u['pipeline_ms']['p50'])} / {_ms(u['pipeline_ms']['p95'])}"
            wall = f"{_ms(u['wall_ms']['p50'])} / {_ms(u['wall_ms']['p95'])}"
            out.append(f"| {_run(r)} | {u['delivered']} | {pipeline} | {wall} | {steps} |")
    out += [
        "",
        "| run | histories read | state transitions per delivered email | Lambda log bytes per email |",
        "| ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        dist = ", ".join(f"{k} transitions × {v}" for k, v in r["transitions"].items()) or "–"
        out.append(f"| {_run(r)} | {r['histories_sampled']} | {dist} | {r['lambda_log_bytes_per_email']:,.0f} |")
    out += [
        "",
        "| run | function | invocations | p50 ms | p95 ms | max ms |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        for name, s in r["lambda"].items():
            out.append(
                f"| {_run(r)} | {name} | {s['invocations']:,} | {_ms(s['p50_ms'])} "
                f"| {_ms(s['p95_ms'])} | {_ms(s['max_ms'])} |"
            )
    out += ["", "| run | outcomes | failures |", "| ---: | --- | --- |"]
    for r in rows:
        problems = [f"{n} × {e}" for e, n in r["invocation_errors"].items()]
        if r["send_error_count"]:
            problems.append(f"{r['send_error_count']} SMTP errors ({'; '.join(r['send_errors'])})")
        if r["not_done_at_deadline"]:
            problems.append(f"{r['not_done_at_deadline']} without an outcome at the deadline")
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(r["outcomes"].items()))
        out.append(f"| {_run(r)} | {outcomes} | {'; '.join(problems) or 'none'} |")
    return "\n".join(out)


def _in_child(args: argparse.Namespace, count: int) -> dict[str, Any]:
    """Run one case in a fresh interpreter: moto's backends, the Lambda runtime's stdout redirection and
    the process's CPU counters then belong to that case alone."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-case-") as tmp:
        out = Path(tmp) / "case.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--case",
            str(count),
            "--attachment-kb",
            str(args.attachment_kb),
            "--threads",
            str(args.threads),
            "--deadline",
            str(args.deadline or 60 + 2 * count),
            "--histories",
            str(args.histories),
            "--seed",
            str(args.seed),
            "--singles",
            str(args.singles),
            "--json",
            str(out),
            *(["--no-iam"] if args.no_iam else []),
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        row: dict[str, Any] = json.loads(out.read_text())
        return row


def main(argv: list[str] | None = None) -> int:
    """Run each case on a fresh stack in its own process and print the tables (``argv`` defaults to none)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", default="200", help="email counts, comma-separated (each on a fresh stack)")
    parser.add_argument("--attachment-kb", type=int, default=100, help="attachment size in KiB (1024 for 1 MiB)")
    parser.add_argument("--threads", type=int, default=4, help="concurrent SMTP clients")
    parser.add_argument("--deadline", type=float, default=0, help="seconds to wait after sending (0: 60 + 2 N)")
    parser.add_argument("--histories", type=int, default=50, help="execution histories to read (0: all delivered)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the attachments' pseudo-random bytes")
    parser.add_argument("--singles", type=int, default=10, help="emails sent one at a time first (unloaded)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--no-iam", action="store_true", help="functions share the administrator (no local IAM)")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # internal: one case, JSON to --json
    parser.add_argument("--render", type=Path, help="print the tables of an earlier --json file (no run)")
    args = parser.parse_args([] if argv is None else argv)
    if args.case is not None:
        # The SMTP clients are senders outside the stack, as on a real network: a process of their own,
        # started (and its imports done) before anything is timed.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as senders:
            senders.submit(_ready).result()
            row = run_case(
                args.case,
                senders,
                attachment_kb=args.attachment_kb,
                threads=args.threads,
                deadline_s=args.deadline or 60 + 2 * args.case,
                history_sample=args.histories,
                seed=args.seed,
                singles=args.singles,
                enforce_iam=not args.no_iam,
            )
        assert args.json is not None
        args.json.write_text(json.dumps(row, indent=2, default=str))
        return 0
    if args.render:
        rows = json.loads(args.render.read_text())
    else:
        rows = []
        for count in (int(n) for n in args.emails.split(",")):
            print(f"e2e: {count} emails, {args.attachment_kb} KiB attachment", file=sys.stderr, flush=True)
            rows.append(_in_child(args, count))
    print("## End to end on the local stack (moto, one process, this machine: not AWS)\n")
    print(f"{os.cpu_count()} CPUs; retry waits scaled ×0.001; baseline = decrypt + parse in this process\n")
    print(tables(rows))
    if args.json and not args.render:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
