"""Base64 decoding: pybase64's strict fast path and the lenient binascii path give the same bytes."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_factory import b64_lines
from mailroom.mime import transfer


def decoded(data: bytes) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    clean = transfer.decode_base64(memoryview(data), chunks.append)
    return b"".join(chunks), clean


@pytest.fixture
def without_pybase64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "pybase64", None)


def test_the_fast_decoder_is_installed() -> None:
    assert transfer.pybase64 is not None, "pybase64 is a dependency of the shipped package"


@pytest.mark.parametrize("data", [b"", b"x", b"%PDF-1.4" * 50_000, bytes(range(256)) * 9000])
def test_clean_base64_decodes_exactly(data: bytes) -> None:
    assert decoded(b64_lines(data).encode()) == (data, True)


def test_trailing_blanks_and_unpadded_end_still_decode() -> None:
    data = bytes(range(256)) * 10
    lines = base64.b64encode(data).rstrip(b"=")
    text = b" \r\n".join(lines[i : i + 76] for i in range(0, len(lines), 76))
    assert decoded(text) == (data, True)


@pytest.mark.usefixtures("without_pybase64")
def test_without_pybase64_binascii_decodes_the_same() -> None:
    data = bytes(range(256)) * 9000
    assert decoded(b64_lines(data).encode()) == (data, True)


def test_strict_decoder_refuses_junk_and_partial_quanta_with_or_without_pybase64(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for module in (transfer.pybase64, None):
        monkeypatch.setattr(transfer, "pybase64", module)
        assert transfer.strict_base64(b"QUJD\r\nREVG \t\r\n") == b"ABCDEF"
        for bad in (b"QUJD*REVG", b"QUJDRA", b"QUJDR"):
            with pytest.raises((binascii.Error, ValueError)):
                transfer.strict_base64(bad)


@st.composite
def damaged_base64(draw: st.DrawFn) -> bytes:
    """Base64 of random bytes, wrapped, then junk inserted, padding dropped or the tail cut."""
    text = bytearray(b64_lines(draw(st.binary(max_size=3000)), width=draw(st.sampled_from([60, 76, 1000]))).encode())
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(text)))
        text[pos:pos] = draw(st.sampled_from([b" ", b"\t", b"*", b"\r\n", b"=", b"\x00", b"-", b"A"]))
    if draw(st.booleans()):
        del text[draw(st.integers(0, len(text))) :]
    return bytes(text)


@settings(max_examples=300, deadline=None)
@given(damaged_base64(), st.sampled_from([7, 64, 1 << 20]))
def test_fast_and_lenient_paths_agree_on_damaged_input(text: bytes, chunk: int) -> None:
    original_chunk, original_module = transfer.CHUNK, transfer.pybase64
    try:
        transfer.CHUNK = chunk
        fast = decoded(text)
        transfer.pybase64 = None  # type: ignore[assignment]
        slow = decoded(text)
    finally:
        transfer.CHUNK, transfer.pybase64 = original_chunk, original_module
    assert fast == slow
