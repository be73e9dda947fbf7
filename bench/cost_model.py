"""What 1,000 one-MB emails cost on AWS (eu-west-1 list prices), and what a single Lambda would cost.

A transparent model, not a measurement of a bill: every price is a constant below with its source,
every per-email count is derived from the code path it names (``lambdas/mailroom/steps``,
``adapters``, ``template.yaml``, ``statemachine/inbound_email.asl.json``), and every duration is
either an estimate built from stated assumptions (default) or a figure measured by
``bench/bench_e2e.py`` on the local stack (``--e2e FILE``; moto on this machine: an upper bound, far
slower than AWS). Change any input on the command line and the tables follow.

    .venv/bin/python bench/cost_model.py                            # 1 MiB emails, one attachment
    .venv/bin/python bench/cost_model.py --e2e e2e.json             # + durations measured locally
    .venv/bin/python bench/cost_model.py --email-mb 10 --json cost.json

Scope: the happy path (delivered, one mailbox, no retries), on-demand prices, free tiers ignored
(they are per account, not per email), no Savings Plans. Fixed monthly costs (the KMS key, the
SQS pollers' empty receives, alarms, the dashboard, custom metrics) are listed apart: they do not
grow with mail volume.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
GIB = 1024 * MIB
VCPU_FULL_MB = 1769  # Lambda memory at which a function has one full vCPU (Lambda documentation)

# --------------------------------------------------------------------------- prices
# Read on 2026-11-27 from the AWS pricing pages as stored in the search corpus (no internet here).
# "eu-west-1" = the Europe (Ireland) figure was on the page read; "us-east-1" = only the US East
# (N. Virginia) figure could be read offline and is used as is (AWS lists the same figure for
# eu-west-1 for most of these, but that was not verified here); "unverified" = from the published
# price list as remembered, no page found offline. Check them before quoting a budget.


@dataclass(frozen=True)
class Price:
    """One list price, as quoted: ``quoted`` USD per ``per`` ``unit``."""

    quoted: float
    per: int
    unit: str
    source: str
    region: str  # "eu-west-1", "us-east-1" or "unverified"

    @property
    def usd(self) -> float:
        """USD per single unit."""
        return self.quoted / self.per

    def __str__(self) -> str:
        amount = f"{self.quoted:.10f}".rstrip("0").rstrip(".")
        return f"${amount} per {self.per:,} {self.unit}" if self.per > 1 else f"${amount} per {self.unit}"


PRICES: dict[str, Price] = {
    "sfn_standard_transition": Price(
        0.025, 1000, "state transitions", "aws.amazon.com/step-functions/pricing (table: Europe (Ireland))", "eu-west-1"
    ),
    "sfn_express_request": Price(1.00, 1_000_000, "requests", "aws.amazon.com/step-functions/pricing", "us-east-1"),
    "sfn_express_gb_hour": Price(
        0.06, 1, "GB-hour (first 1,000 GB-hours; 64 MB steps, 100 ms)", "step-functions/pricing example", "us-east-1"
    ),
    "lambda_request": Price(0.20, 1_000_000, "requests", "aws.amazon.com/lambda/pricing", "us-east-1"),
    "lambda_arm_gb_s": Price(
        0.0000133334, 1, "GB-second, arm64 (first 7.5 bn GB-s a month)", "lambda/pricing (Arm, tier 1)", "us-east-1"
    ),
    "s3_put": Price(0.005, 1000, "PUT, COPY, POST, LIST requests", "aws.amazon.com/s3/pricing", "us-east-1"),
    "s3_get": Price(0.0004, 1000, "GET, HEAD and other requests", "aws.amazon.com/s3/pricing", "us-east-1"),
    "s3_standard_gb_month": Price(
        0.023, 1, "GB-month, S3 Standard (first 50 TB)", "aws.amazon.com/s3/pricing", "us-east-1"
    ),
    "s3_glacier_ir_gb_month": Price(0.004, 1, "GB-month, Glacier Instant Retrieval", "s3/pricing", "us-east-1"),
    "s3_glacier_ir_transition": Price(0.02, 1000, "lifecycle transitions into Glacier IR", "s3/pricing", "us-east-1"),
    "kms_request": Price(0.03, 10_000, "symmetric requests", "aws.amazon.com/kms/pricing", "us-east-1"),
    "kms_key_month": Price(1.00, 1, "customer-managed key-month (+$1 per rotation kept)", "kms/pricing", "us-east-1"),
    "ddb_wru": Price(0.625, 1_000_000, "on-demand write request units", "dynamodb/pricing/on-demand", "us-east-1"),
    "ddb_rru": Price(0.125, 1_000_000, "on-demand read request units", "dynamodb/pricing/on-demand", "us-east-1"),
    "sqs_request": Price(
        0.40, 1_000_000, "standard requests (64 KB chunks)", "aws.amazon.com/sqs/pricing", "unverified"
    ),
    "logs_ingest_gb": Price(
        0.57, 1, "GB ingested (Lambda logs, first tier)", "cloudwatch/pricing (Ireland)", "unverified"
    ),
    "xray_trace": Price(5.00, 1_000_000, "traces recorded", "aws.amazon.com/xray/pricing", "unverified"),
    "ses_email_received": Price(0.10, 1000, "emails received", "aws.amazon.com/ses/pricing", "unverified"),
    "ses_chunk_received": Price(0.09, 1000, "incoming 256 KB chunks", "aws.amazon.com/ses/pricing", "unverified"),
}


def usd(name: str) -> float:
    """The price per unit of ``name``."""
    return PRICES[name].usd


# --------------------------------------------------------------------------- the work per email


@dataclass
class Inputs:
    """What one email is and how the stack is configured."""

    email_bytes: int = MIB
    attachments: int = 1
    html_body: bool = False
    mailboxes: int = 1
    sqs_batch: float = 1.0  # emails per Starter batch: 1 at low traffic, up to 10 under load
    log_bytes_per_email: float = 1_800.0  # handlers' JSON logs + EMF (bench_e2e measures it)
    platform_log_bytes_per_invocation: float = 300.0  # START/END/REPORT records (JSON log format): assumed
    xray_sampled: float = 1.0  # share of emails traced (1 req/s reservoir: all of them at low traffic)
    cold_start_share: float = 0.02  # share of invocations that pay an init phase (billed since 2025-08)
    init_ms: float = 700.0  # init duration when they do (bench_coldstart: imports + clients)
    memory: dict[str, int] = field(default_factory=dict)  # function → MB (from template.yaml)
    transitions: int = 4  # happy path (from the ASL; bench_e2e counts them in histories)

    @property
    def decoded_attachment_bytes(self) -> float:
        """Attachment bytes after base64 (57 decoded bytes per 78-byte line), shared among attachments."""
        return self.email_bytes * 57 / 78


def template_memory() -> dict[str, int]:
    """MemorySize of every function in ``template.yaml``."""
    from mailroom_cli.local.template import load_yaml

    data = load_yaml(ROOT / "template.yaml")
    default = int(data.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    return {
        logical_id: int(resource.get("Properties", {}).get("MemorySize", default))
        for logical_id, resource in data["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def happy_path_transitions() -> int:
    """States entered from StartAt to the end along ``Next``: one billed transition each."""
    asl = json.loads((ROOT / "statemachine" / "inbound_email.asl.json").read_text())
    states, name, count = asl["States"], asl["StartAt"], 0
    while name:
        count += 1
        name = states[name].get("Next") if not states[name].get("End") else None
    return count


@dataclass
class Counts:
    """Billable operations for one email."""

    s3_put: float = 0  # PUT + COPY (+ multipart parts)
    s3_get: float = 0  # GET + HEAD
    kms: float = 0
    ddb_wru: float = 0
    ddb_rru: float = 0
    sqs: float = 0
    transitions: float = 0
    lambda_requests: float = 0
    gb_s: float = 0
    log_bytes: float = 0
    notes: list[str] = field(default_factory=list)


def pipeline_counts(i: Inputs, durations_ms: Mapping[str, float]) -> Counts:
    """The current design, step by step, as the code does it (files: lambdas/mailroom/...)."""
    c = Counts()
    files = i.attachments + 1 + (1 if i.html_body else 0)  # attachments + text body (+ html)
    parts = max(1, -(-i.email_bytes // (8 * MIB))) if i.email_bytes >= 5 * MIB else 1  # SES multipart ≥ 5 MB
    # SES receipt rule: GenerateDataKey on our key, one PutObject (multipart ≥ 5 MB: create + parts + complete).
    c.kms += 1
    c.s3_put += 1 if parts == 1 else parts + 2
    # S3 → SQS notification: one SendMessage (billed to the queue owner). The queue's CMK is used with
    # a 300 s data-key reuse period: KMS calls per email are ~0 at any steady rate.
    c.sqs += 1
    # Starter (steps/start.py): the event source mapping's ReceiveMessage and DeleteMessageBatch per batch;
    # StartExecution (no charge beyond transitions); status mark_received: UpdateItem (1 WRU) + by-status
    # GSI insert (1 WRU).
    c.sqs += 2 / i.sqs_batch
    c.lambda_requests += 1 / i.sqs_batch
    c.ddb_wru += 2
    # Decrypt (steps/decrypt.py): GetObject incoming, KMS Decrypt of the data key, PutObject staging MIME
    # (SSE-KMS with a bucket key: S3's KMS calls are amortised, ~0 per object).
    c.s3_get += 1
    c.kms += 1
    c.s3_put += 1
    # Parse (steps/parse.py): GetObject staging MIME, BatchGetItem mailboxes (1 RRU per address, consistent),
    # PutObject per attachment, text (and html) body, and the manifest.
    c.s3_get += 1
    c.ddb_rru += i.mailboxes
    c.s3_put += files + 1
    # Archive (steps/archive.py): GetObject manifest; per file incl. the original MIME: CopyObject with
    # If-None-Match (S3 checks and writes in one request); the archived manifest: PutObject, likewise.
    c.s3_get += 1
    c.s3_put += (files + 1) + 1
    # Inbox (steps/inbox.py): GetObject archived manifest; per mailbox: claim PutItem (1 WRU) and item
    # PutItem (1 WRU, < 1 KB with one attachment); status mark_delivered UpdateItem (1 WRU) + the by-status
    # GSI key change received → delivered (delete + insert: 2 WRU).
    c.s3_get += 1
    c.ddb_wru += 2 * i.mailboxes + 1 + 2
    c.transitions = i.transitions
    c.lambda_requests += 4
    for fn, ms in durations_ms.items():
        per_email = 1 / i.sqs_batch if fn == "StarterFunction" else 1
        c.gb_s += i.memory[fn] / 1024 * ms / 1000 * per_email
        c.gb_s += i.memory[fn] / 1024 * i.init_ms / 1000 * i.cold_start_share * per_email
    c.log_bytes = i.log_bytes_per_email + i.platform_log_bytes_per_invocation * c.lambda_requests
    return c


def single_lambda_counts(i: Inputs, duration_ms: float, memory_mb: int) -> Counts:
    """One function (SQS → Lambda) doing Decrypt, Parse, Archive and Inbox in memory; same stores, same keys."""
    c = Counts()
    files = i.attachments + 1 + (1 if i.html_body else 0)
    parts = max(1, -(-i.email_bytes // (8 * MIB))) if i.email_bytes >= 5 * MIB else 1
    c.kms += 1  # SES
    c.s3_put += 1 if parts == 1 else parts + 2
    c.sqs += 1 + 2 / i.sqs_batch
    c.lambda_requests += 1 / i.sqs_batch
    c.ddb_wru += 2  # status received (kept: the operator's record of what arrived)
    c.s3_get += 1  # GetObject incoming
    c.kms += 1  # the data key
    c.ddb_rru += i.mailboxes
    # No staging: the original MIME, each file and the manifest go straight to their archive keys,
    # each a conditional PutObject (a retry writes nothing twice).
    c.s3_put += files + 1 + 1
    c.ddb_wru += 2 * i.mailboxes + 1 + 2
    c.gb_s = memory_mb / 1024 * (duration_ms + i.init_ms * i.cold_start_share) / 1000 / i.sqs_batch
    c.log_bytes = i.log_bytes_per_email * 0.6 + i.platform_log_bytes_per_invocation * c.lambda_requests
    return c


# --------------------------------------------------------------------------- durations


@dataclass(frozen=True)
class Latency:
    """In-region service times assumed for the estimate (typical single-request figures, not measured here)."""

    s3_first_byte_ms: float = 20  # GET / HEAD
    s3_put_ms: float = 30  # small PUT / COPY request overhead
    s3_mb_per_s: float = 90  # one stream from a Lambda
    s3_copy_mb_per_s: float = 150  # server-side
    kms_ms: float = 10
    ddb_ms: float = 6
    sfn_start_ms: float = 25
    overhead_ms: float = 5  # Powertools logger, metrics flush, X-Ray segment


def measure_compute_ms(email_bytes: int) -> dict[str, float]:
    """Decrypt and parse one email of about ``email_bytes`` (one attachment) in this process: best of 5, ms."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_e2e import ACCOUNT, _FixedKey, scan_email
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from mailroom.crypto import decrypt_ses_object
    from mailroom.mime import parse_email
    from mailroom.mime.content import DigestOnlyStore

    from mailroom_cli.local.ses_producer import MemorySink

    # One attachment sized so that the whole email is ``email_bytes`` (base64: 78 bytes per 57).
    raw = scan_email(0, to="bench@in.example.com", attachment_bytes=int(email_bytes * 57 / 78) - 2048, seed=3)
    key, iv = os.urandom(32), os.urandom(12)
    sealed = AESGCM(key).encrypt(iv, raw, None)
    message_id = "0123456789abcdefghijklmnopqrstuv01234567"
    metadata = {
        "x-amz-key-v2": base64.b64encode(b"wrapped").decode(),
        "x-amz-iv": base64.b64encode(iv).decode(),
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-wrap-alg": "kms",
        "x-amz-tag-len": "128",
        "x-amz-unencrypted-content-length": str(len(raw)),
        "x-amz-matdesc": json.dumps(
            {
                "aws:ses:message-id": message_id,
                "aws:ses:rule-name": "bench",
                "aws:ses:source-account": ACCOUNT,
                "kms_cmk_id": "arn:aws:kms:eu-west-1:123456789012:key/bench",
            }
        ),
    }
    best = {"decrypt": float("inf"), "parse": float("inf")}
    for _ in range(5):
        start = time.perf_counter()
        sink = MemorySink()
        decrypt_ses_object(
            io.BytesIO(sealed),
            metadata=metadata,
            size=len(sealed),
            keys=_FixedKey(key),
            sink=sink,
            expected_account=ACCOUNT,
            expected_message_id=message_id,
        )
        middle = time.perf_counter()
        assert sink.value is not None
        parse_email(sink.value, store=DigestOnlyStore())
        end = time.perf_counter()
        best["decrypt"] = min(best["decrypt"], (middle - start) * 1000)
        best["parse"] = min(best["parse"], (end - middle) * 1000)
    return best


def _cpu(ms: float, memory_mb: int) -> float:
    """Single-threaded compute time at a memory size below one vCPU (CPU share scales with memory)."""
    return ms * max(1.0, VCPU_FULL_MB / memory_mb)


def estimated_durations(i: Inputs, compute: Mapping[str, float], lat: Latency) -> dict[str, float]:
    """Per function, the sum of its requests' service times and its compute, in ms (one email)."""
    mb = i.email_bytes / 1e6
    att_mb = i.decoded_attachment_bytes / 1e6
    files = i.attachments + 1 + (1 if i.html_body else 0)
    transfer = mb * 1000 / lat.s3_mb_per_s
    mem = i.memory
    return {
        "StarterFunction": lat.sfn_start_ms + lat.ddb_ms + lat.overhead_ms,
        "DecryptFunction": lat.s3_first_byte_ms
        + transfer
        + lat.kms_ms
        + _cpu(compute["decrypt"], mem["DecryptFunction"])
        + lat.s3_put_ms
        + transfer
        + lat.overhead_ms,
        "ParseFunction": lat.s3_first_byte_ms
        + transfer
        + _cpu(compute["parse"], mem["ParseFunction"])
        + lat.ddb_ms
        + files * lat.s3_put_ms
        + att_mb * 1000 / lat.s3_mb_per_s
        + lat.s3_put_ms  # manifest
        + lat.overhead_ms,
        "ArchiveFunction": lat.s3_first_byte_ms
        + (files + 1) * lat.s3_put_ms  # conditional CopyObject per file
        + (mb + att_mb) * 1000 / lat.s3_copy_mb_per_s
        + lat.s3_put_ms
        + lat.overhead_ms,
        "InboxFunction": lat.s3_first_byte_ms + (2 * i.mailboxes + 1) * lat.ddb_ms + lat.overhead_ms,
    }


def single_lambda_duration(i: Inputs, compute: Mapping[str, float], lat: Latency, memory_mb: int) -> float:
    """The same requests minus staging round trips and the Starter, plus both computations, in ms."""
    mb = i.email_bytes / 1e6
    att_mb = i.decoded_attachment_bytes / 1e6
    files = i.attachments + 1 + (1 if i.html_body else 0)
    return (
        lat.ddb_ms  # status received
        + lat.s3_first_byte_ms
        + mb * 1000 / lat.s3_mb_per_s
        + lat.kms_ms
        + _cpu(compute["decrypt"] + compute["parse"], memory_mb)
        + lat.ddb_ms
        + (files + 2) * lat.s3_put_ms  # conditional PUT: original, files, manifest
        + (mb + att_mb) * 1000 / lat.s3_mb_per_s
        + (2 * i.mailboxes + 1) * lat.ddb_ms
        + lat.overhead_ms
    )


# --------------------------------------------------------------------------- money


def dollars(c: Counts, i: Inputs, *, express: bool = False, express_seconds: float = 0.0) -> dict[str, float]:
    """Per 1,000 emails, by service."""
    n = 1000
    if express:
        billed_s = -(-express_seconds * 10 // 1) / 10  # rounded up to 100 ms
        sfn = n * (usd("sfn_express_request") + billed_s * 64 / 1024 * usd("sfn_express_gb_hour") / 3600)
    else:
        sfn = n * c.transitions * usd("sfn_standard_transition")
    return {
        "Step Functions": sfn,
        "Lambda requests": n * c.lambda_requests * usd("lambda_request"),
        "Lambda duration (arm64)": n * c.gb_s * usd("lambda_arm_gb_s"),
        "S3 PUT/COPY": n * c.s3_put * usd("s3_put"),
        "S3 GET/HEAD": n * c.s3_get * usd("s3_get"),
        "KMS": n * c.kms * usd("kms_request"),
        "DynamoDB": n * (c.ddb_wru * usd("ddb_wru") + c.ddb_rru * usd("ddb_rru")),
        "SQS": n * c.sqs * usd("sqs_request"),
        "CloudWatch Logs": n * c.log_bytes / 1e9 * usd("logs_ingest_gb"),
        "X-Ray": n * i.xray_sampled * usd("xray_trace"),
    }


def storage(i: Inputs, *, incoming_days: int = 30, staging_days: int = 7, archive_years: int = 10) -> list[list[str]]:
    """S3 Standard storage per 1,000 emails: what each bucket holds and for how long."""
    gb = 1000 / GIB
    att = i.decoded_attachment_bytes
    staged = i.email_bytes + att  # plaintext MIME + decoded attachments (+ small bodies, manifest)
    archived = i.email_bytes + att  # the original MIME and the attachments it contains, both kept
    price = usd("s3_standard_gb_month")
    glacier, transition = usd("s3_glacier_ir_gb_month"), usd("s3_glacier_ir_transition")
    objects = i.attachments + 1 + (1 if i.html_body else 0) + 2  # files, the original MIME, the manifest
    return [
        [
            "incoming (SES objects, encrypted)",
            f"{i.email_bytes * gb:.2f}",
            f"{incoming_days} d",
            f"{i.email_bytes * gb * price * incoming_days / 30:.4f}",
        ],
        [
            "staging (plaintext MIME + files)",
            f"{staged * gb:.2f}",
            f"{staging_days} d",
            f"{staged * gb * price * staging_days / 30:.4f}",
        ],
        [
            "archive (original MIME + files), per month kept",
            f"{archived * gb:.2f}",
            "1 month",
            f"{archived * gb * price:.4f}",
        ],
        [
            "archive, whole default retention",
            f"{archived * gb:.2f}",
            f"{archive_years} y",
            f"{archived * gb * price * 12 * archive_years:.2f}",
        ],
        [
            "archive, attachments not stored twice (MIME only)",
            f"{i.email_bytes * gb:.2f}",
            f"{archive_years} y",
            f"{i.email_bytes * gb * price * 12 * archive_years:.2f}",
        ],
        [
            f"archive, Glacier IR after 90 days (+ {objects} lifecycle transitions per email)",
            f"{archived * gb:.2f}",
            f"{archive_years} y",
            f"{archived * gb * (price * 3 + glacier * (12 * archive_years - 3)) + 1000 * objects * transition:.2f}",
        ],
    ]


# --------------------------------------------------------------------------- output


def table(rows: list[list[str]], header: list[str], align: str) -> str:
    """Markdown; ``align`` has one 'l' or 'r' per column."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _money(x: float) -> str:
    return f"{x:.4f}"


def report(
    i: Inputs, lat: Latency, compute: Mapping[str, float], measured: Mapping[str, float] | None
) -> dict[str, Any]:
    """Every figure, as data (the tables are printed from it)."""
    est = estimated_durations(i, compute, lat)
    single_mem = i.memory["ParseFunction"]  # the one function must hold a 40 MB mail as Parse does
    single_ms = single_lambda_duration(i, compute, lat, single_mem)
    current = pipeline_counts(i, est)
    single = single_lambda_counts(i, single_ms, single_mem)
    cost_now, cost_single = dollars(current, i), dollars(single, i)
    out: dict[str, Any] = {
        "inputs": dict(vars(i)),
        "latency_assumptions": vars(lat),
        "compute_ms_in_process": dict(compute),
        "durations_ms_estimated": est,
        "single_lambda_ms": single_ms,
        "counts": {"pipeline": vars(current), "single_lambda": vars(single)},
        "usd_per_1000": {"pipeline": cost_now, "single_lambda": cost_single},
    }
    if measured:
        local = pipeline_counts(i, {fn: measured.get(fn, est[fn]) for fn in est})
        out["usd_per_1000"]["pipeline_with_local_durations"] = dollars(local, i)
        out["durations_ms_local"] = {fn: measured.get(fn) for fn in est}
    # What would halve it: each option re-priced with the same model.
    exec_s = sum(est.values()) / 1000 + 0.1
    options: dict[str, float] = {"today (Standard, 4 Task states)": sum(cost_now.values())}
    options["Express workflow instead of Standard"] = sum(
        dollars(current, i, express=True, express_seconds=exec_s).values()
    )
    merged = pipeline_counts(i, est)
    merged.transitions -= 1
    merged.s3_get -= 1  # Inbox's manifest read
    merged.lambda_requests -= 1
    options["Archive + Inbox merged (3 transitions)"] = sum(dollars(merged, i).values())
    direct = pipeline_counts(i, est)
    files = i.attachments + 1 + (1 if i.html_body else 0)
    # Decrypt puts the original and Parse each file straight to its archive key (a conditional PutObject,
    # as Archive's copies are now): the CopyObjects go.
    direct.s3_put -= files + 1
    options["no staging copies (write archive keys directly)"] = sum(dollars(direct, i).values())
    two = pipeline_counts(i, est)
    # Decrypt → Deliver (Parse + Archive + Inbox in one function): no copies, one manifest written
    # (straight to the archive), none read back by Archive or Inbox.
    two.transitions = 2
    two.lambda_requests -= 2
    two.s3_put -= files + 2
    two.s3_get -= 2  # the staged and the archived manifest reads
    options["2 states (Decrypt → Deliver) + no staging copies"] = sum(dollars(two, i).values())
    right = pipeline_counts(i, est)
    right.gb_s *= 0.5
    options["Lambda memory halved everywhere (if durations held)"] = sum(dollars(right, i).values())
    options["single Lambda, no Step Functions"] = sum(cost_single.values())
    out["options"] = options
    out["storage"] = storage(i)
    out["ses_receiving_per_1000"] = 1000 * (
        usd("ses_email_received") + -(-i.email_bytes // (256 * 1024)) * usd("ses_chunk_received")
    )
    return out


def print_report(data: dict[str, Any], i: Inputs) -> None:
    """The tables, in order: prices, counts, money, options, storage, fixed costs."""
    print(f"## Cost model: 1,000 emails of {i.email_bytes / MIB:g} MiB, {i.attachments} attachment(s), eu-west-1\n")
    print("### Prices\n")
    rows = [[name, str(p), p.region, p.source] for name, p in PRICES.items()]
    print(table(rows, ["price", "list price", "region of the figure", "source"], "llll"))

    print("\n### Per email, from the code paths\n")
    cur, one = data["counts"]["pipeline"], data["counts"]["single_lambda"]
    keys = [
        ("transitions", "Step Functions state transitions"),
        ("lambda_requests", "Lambda invocations"),
        ("gb_s", "Lambda GB-seconds (estimated durations)"),
        ("s3_put", "S3 PUT + COPY"),
        ("s3_get", "S3 GET + HEAD"),
        ("kms", "KMS requests (SES + Decrypt; bucket keys ~0)"),
        ("ddb_wru", "DynamoDB write units (incl. GSI)"),
        ("ddb_rru", "DynamoDB read units"),
        ("sqs", "SQS requests"),
        ("log_bytes", "CloudWatch Logs bytes"),
    ]

    def fmt(key: str, value: float) -> str:
        return f"{value:,.0f}" if key == "log_bytes" else f"{value:.3f}" if key == "gb_s" else f"{value:g}"

    rows = [[label, fmt(k, cur[k]), fmt(k, one[k])] for k, label in keys]
    print(table(rows, ["", "pipeline", "single Lambda"], "lrr"))

    print("\n### Durations per invocation (ms, one email)\n")
    est, local = data["durations_ms_estimated"], data.get("durations_ms_local", {})
    rows = [
        [fn, str(i.memory[fn]), f"{ms:.0f}", f"{local[fn]:.0f}" if local.get(fn) else "–"] for fn, ms in est.items()
    ]
    rows.append(
        ["single Lambda (all four steps)", str(i.memory["ParseFunction"]), f"{data['single_lambda_ms']:.0f}", "–"]
    )
    print(table(rows, ["function", "MB", "AWS estimate", "local stack p50 (moto)"], "lrrr"))
    c = data["compute_ms_in_process"]
    print(
        f"\nEstimate = assumed service times (below) + compute measured in this process "
        f"(decrypt {c['decrypt']:.1f} ms, parse {c['parse']:.1f} ms per email), scaled by "
        f"{VCPU_FULL_MB} MB ÷ memory below one vCPU. Assumptions: "
        + ", ".join(f"{k} {v:g}" for k, v in data["latency_assumptions"].items())
    )

    print("\n### USD per 1,000 emails\n")
    now, single = data["usd_per_1000"]["pipeline"], data["usd_per_1000"]["single_lambda"]
    total_now, total_single = sum(now.values()), sum(single.values())
    local_cost = data["usd_per_1000"].get("pipeline_with_local_durations")
    rows = []
    for name in now:
        row = [name, _money(now[name]), f"{now[name] / total_now:.0%}", _money(single[name])]
        if local_cost:
            row.append(_money(local_cost[name]))
        rows.append(row)
    total = ["**total**", f"**{_money(total_now)}**", "100%", f"**{_money(total_single)}**"]
    if local_cost:
        total.append(_money(sum(local_cost.values())))
    rows.append(total)
    header = ["service", "pipeline", "share", "single Lambda"] + (["pipeline, local durations"] if local_cost else [])
    print(table(rows, header, "lrrr" + ("r" if local_cost else "")))
    print(
        f"\nSingle Lambda ÷ pipeline: {total_single / total_now:.2f}. Common to both and not in the totals: "
        f"SES receiving ${data['ses_receiving_per_1000']:.2f} per 1,000 (per email + per 256 KB chunk; unverified)."
    )

    print("\n### What would halve it\n")
    base = data["options"]["today (Standard, 4 Task states)"]
    rows = [[name, _money(v), f"{v / base - 1:+.0%}"] for name, v in data["options"].items()]
    print(table(rows, ["change", "USD per 1,000", "vs today"], "lrr"))

    print("\n### Storage (S3 Standard) per 1,000 emails\n")
    print(table(data["storage"], ["what", "GiB", "kept", "USD"], "lrrr"))
    print(
        "\nFixed per month, whatever the volume: the KMS key $1 (+$1 per rotated version), the event source "
        "mapping's empty long polls (~$0.26 for 5 pollers), alarms and custom metrics (CloudWatch), "
        "the Watchdog's daily run."
    )


def _durations_from_e2e(path: Path, email_bytes: int) -> tuple[dict[str, float], float | None, int | None]:
    """Local step durations (only when the run's emails are about this size), log bytes, transitions."""
    rows = json.loads(path.read_text())
    rows = rows if isinstance(rows, list) else [rows]
    row = min(rows, key=lambda r: abs(r.get("email_bytes", 0) - email_bytes))
    # One at a time (no queueing behind other emails) when the run has it, else the loaded p50.
    unloaded = (row.get("unloaded") or {}).get("step_p50_ms") or {}
    durations = unloaded or {fn: stats["p50_ms"] for fn, stats in row.get("lambda", {}).items()}
    if not 0.66 < row.get("email_bytes", 0) / email_bytes < 1.5:
        print(
            f"(the e2e run's emails are {row.get('email_bytes', 0):,} B, not ~{email_bytes:,}: "
            "its step durations are not used)",
            file=sys.stderr,
        )
        durations = {}
    log_bytes = row.get("lambda_log_bytes_per_email")
    measured = row.get("transitions") or {}
    transitions = int(max(measured, key=lambda k: measured[k])) if measured else None
    return durations, log_bytes, transitions


def main(argv: list[str] | None = None) -> int:
    """Print the model's tables (``argv`` defaults to none)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--email-mb", type=float, default=1.0, help="raw email size in MiB")
    parser.add_argument("--attachments", type=int, default=1)
    parser.add_argument("--sqs-batch", type=float, default=1.0, help="emails per Starter batch (1 to 10)")
    parser.add_argument("--cold-start-share", type=float, default=0.02, help="share of invocations with an init")
    parser.add_argument("--init-ms", type=float, default=700.0, help="billed init duration of a cold start")
    parser.add_argument("--e2e", type=Path, help="bench_e2e.py --json output: local durations, log bytes, transitions")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args([] if argv is None else argv)
    inputs = Inputs(
        email_bytes=int(args.email_mb * MIB),
        attachments=args.attachments,
        sqs_batch=args.sqs_batch,
        cold_start_share=args.cold_start_share,
        init_ms=args.init_ms,
        memory=template_memory(),
        transitions=happy_path_transitions(),
    )
    measured: dict[str, float] | None = None
    if args.e2e:
        measured, log_bytes, transitions = _durations_from_e2e(args.e2e, inputs.email_bytes)
        if log_bytes:
            inputs.log_bytes_per_email = log_bytes
        if transitions:
            inputs.transitions = transitions
    compute = measure_compute_ms(inputs.email_bytes)
    data = report(inputs, Latency(), compute, measured)
    print_report(data, inputs)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
