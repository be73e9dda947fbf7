"""Decrypt throughput and memory of ``decrypt_ses_object`` against raw streaming AES-GCM.

Each size runs in a fresh subprocess so peak-RSS figures belong to that decrypt alone. The key
service is a fixed key (KMS is not measured); input is a temporary file in the page cache, output
the temp-file sink. Targets: decrypt >= 50 % of raw AES-GCM throughput, RSS growth <= 16 MB at 40 MB.

    .venv/bin/python bench/bench_decrypt.py [--sizes 1,10,40] [--repeat 5]
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from mailroom.crypto import CHUNK_SIZE, decrypt_ses_object
from mailroom.sinks import TempFileSink

MB = 1_000_000
ACCOUNT = "123456789012"
MESSAGE_ID = "0123456789abcdefghijklmnopqrstuv01234567"
MATDESC = {
    "aws:ses:message-id": MESSAGE_ID,
    "aws:ses:rule-name": "bench",
    "aws:ses:source-account": ACCOUNT,
    "kms_cmk_id": "arn:aws:kms:eu-west-1:123456789012:key/bench",
}
RATIO_TARGET = 0.5
RSS_TARGET_MB = 16.0


class FixedKey:
    """KeyService stand-in: KMS latency is not what this measures."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str]) -> bytes:
        return self.key

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        raise NotImplementedError


def make_object(directory: Path, size: int) -> tuple[Path, dict[str, Any]]:
    """Write an SES-format object of ``size`` plaintext bytes; return its path and parameters."""
    key, iv = os.urandom(32), os.urandom(12)
    path = directory / f"object-{size}"
    path.write_bytes(AESGCM(key).encrypt(iv, os.urandom(size), None))
    metadata = {
        "x-amz-key-v2": base64.b64encode(b"wrapped").decode(),
        "x-amz-iv": base64.b64encode(iv).decode(),
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-wrap-alg": "kms",
        "x-amz-tag-len": "128",
        "x-amz-matdesc": json.dumps(MATDESC),
        "x-amz-unencrypted-content-length": str(size),
    }
    return path, {"key": key.hex(), "iv": iv.hex(), "metadata": metadata}


# --------------------------------------------------------------------------- child process


def _memory_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> Callable[[], float]:
    """Start a peak-RSS window; the returned function gives the growth in MB since the start."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        start_kb = _memory_kb("VmRSS")
        return lambda: (_memory_kb("VmHWM") - start_kb) / 1024
    except OSError:
        # Without a reset, ru_maxrss only shows growth beyond the earlier peak: a lower bound.
        start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return lambda: (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_kb) / 1024


def _decrypt(path: Path, params: Mapping[str, Any]) -> float:
    def discard(body: IO[bytes], size: int) -> None:
        return None

    start = time.perf_counter()
    with open(path, "rb") as body:
        decrypt_ses_object(
            body,
            metadata=params["metadata"],
            size=path.stat().st_size,
            keys=FixedKey(bytes.fromhex(params["key"])),
            sink=TempFileSink(discard),
            expected_account=ACCOUNT,
            expected_message_id=MESSAGE_ID,
        )
    return time.perf_counter() - start


def _raw(path: Path, params: Mapping[str, Any], *, hash_too: bool = False) -> float:
    """The baseline: the same file, the same chunk size, cryptography's GCM decryptor, no sink."""
    key, iv = bytes.fromhex(params["key"]), bytes.fromhex(params["iv"])
    start = time.perf_counter()
    decryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).decryptor()
    digest = hashlib.sha256()
    remaining = path.stat().st_size - 16
    with open(path, "rb") as body:
        while remaining > 0:
            chunk = body.read(min(CHUNK_SIZE, remaining))
            remaining -= len(chunk)
            plaintext = decryptor.update(chunk)
            if hash_too:
                digest.update(plaintext)
        decryptor.finalize_with_tag(body.read(16))
    return time.perf_counter() - start


def child(path: Path, params: Mapping[str, Any], repeat: int) -> dict[str, float]:
    """Measure one size: peak RSS growth of the first decrypt, then the best of ``repeat`` timings."""
    _decrypt(path, params)  # warm-up: code paths resident before the memory window opens
    growth = _reset_peak()
    decrypt_times = [_decrypt(path, params)]
    rss_growth_mb = growth()
    raw_times, hashed_times = [_raw(path, params)], [_raw(path, params, hash_too=True)]
    for _ in range(repeat - 1):
        decrypt_times.append(_decrypt(path, params))
        raw_times.append(_raw(path, params))
        hashed_times.append(_raw(path, params, hash_too=True))
    size_mb = (path.stat().st_size - 16) / MB
    return {
        "decrypt_mbps": size_mb / min(decrypt_times),
        "raw_mbps": size_mb / min(raw_times),
        "gcm_sha256_mbps": size_mb / min(hashed_times),
        "rss_growth_mb": rss_growth_mb,
    }


# --------------------------------------------------------------------------- parent


def run(sizes_mb: list[int], repeat: int) -> list[dict[str, float]]:
    """Measure each size in its own interpreter; return one row per size."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-decrypt-") as tmp:
        for size_mb in sizes_mb:
            path, params = make_object(Path(tmp), size_mb * MB)
            params_path = path.with_suffix(".json")
            params_path.write_text(json.dumps(params))
            print(f"decrypting {size_mb} MB ...", file=sys.stderr)
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(path), str(params_path), "--repeat", str(repeat)],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append({"size_mb": size_mb, **json.loads(done.stdout)})
            path.unlink()
    return rows


def table(rows: list[dict[str, float]]) -> str:
    """A markdown table of the figures and whether each meets its target."""
    lines = [
        f"chunk {CHUNK_SIZE // 1024} KiB; best of the runs; RSS = peak growth during the first decrypt",
        "",
        "| plaintext | raw AES-GCM MB/s | AES-GCM+SHA-256 MB/s | decrypt_ses_object MB/s "
        "| ratio (≥ 0.50) | peak RSS growth MB (≤ 16 at 40 MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        ratio = row["decrypt_mbps"] / row["raw_mbps"]
        ratio_mark = "" if ratio >= RATIO_TARGET else " ✗"
        rss_mark = " ✗" if row["size_mb"] == 40 and row["rss_growth_mb"] > RSS_TARGET_MB else ""
        lines.append(
            f"| {row['size_mb']:.0f} MB | {row['raw_mbps']:.0f} | {row['gcm_sha256_mbps']:.0f} "
            f"| {row['decrypt_mbps']:.0f} | {ratio:.2f}{ratio_mark} | {row['rss_growth_mb']:.1f}{rss_mark} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its markdown table (``argv`` defaults to none); never fails on speed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,40", help="plaintext sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per size (best is kept)")
    parser.add_argument("--child", nargs=2, metavar=("OBJECT", "PARAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args([] if argv is None else argv)
    if args.child:
        path, params_path = map(Path, args.child)
        print(json.dumps(child(path, json.loads(params_path.read_text()), max(1, args.repeat))))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    print("## decrypt_ses_object vs raw streaming AES-GCM\n")
    print(table(run(sizes, max(1, args.repeat))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
