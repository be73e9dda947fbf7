"""Archive on fakes: every file of the email copied once under a content key, and the manifest goes last."""

from __future__ import annotations

import hashlib

import pytest
from fakes import MemoryStore
from mailroom.errors import SourceObjectMissingError
from mailroom.manifests import put_bytes, put_manifest
from mailroom.models import Archived, Mailbox, Manifest, ManifestFile, ObjectRef, Parsed
from mailroom.steps.archive import archive

MID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
RECEIVED_AT = "2026-11-27T08:15:04.112Z"
MANIFEST_KEY = f"messages/{MID}/manifest.json"
PDF = b"%PDF-1.7 scanned page"


def _file(index: int, ref: ObjectRef, name: str) -> ManifestFile:
    return ManifestFile(
        index=index,
        filename=name,
        safe_filename=name,
        content_type="application/pdf",
        size=ref.size,
        sha256=ref.sha256,
        location=ref,
    )


def staged(store: MemoryStore) -> tuple[Parsed, Manifest]:
    """What Parse leaves in staging: the original, both bodies, two attachments with the same bytes, the manifest."""
    original = put_bytes(store, "staging", f"mime/{MID}.eml", b"From: a\r\n\r\nraw", content_type="message/rfc822")
    text = put_bytes(store, "staging", f"parts/{MID}/text", b"see attached", content_type="text/plain")
    html = put_bytes(store, "staging", f"parts/{MID}/html", b"<p>see attached</p>", content_type="text/html")
    first = put_bytes(store, "staging", f"parts/{MID}/0", PDF, content_type="application/pdf")
    again = put_bytes(store, "staging", f"parts/{MID}/1", PDF, content_type="application/pdf")
    manifest = Manifest(
        message_id=MID,
        received_at=RECEIVED_AT,
        header_message_id="<scan-1@corp.example>",
        subject="Scan",
        date=None,
        senders=["scanner@corp.example"],
        to=["scans@in.example.com"],
        cc=[],
        verdicts={"spam": "PASS", "virus": "PASS"},
        defects=[],
        original=original,
        text=text,
        html=html,
        attachments=[_file(0, first, "scan.pdf"), _file(1, again, "scan-copy.pdf")],
        mailboxes=[Mailbox(address="scans@in.example.com", user="alice", tenant="acme")],
    )
    ref = put_manifest(store, "staging", f"manifests/{MID}.json", manifest)
    store.writes.clear()
    parsed = Parsed(message_id=MID, received_at=RECEIVED_AT, manifest=ref, mailboxes=1, attachments=2)
    return parsed, manifest


def without_locations(manifest: Manifest) -> dict[str, object]:
    """The manifest but where its files are."""
    values = manifest.model_dump(mode="json")
    for name in ("original", "text", "html", "attachments"):
        del values[name]
    return values


def blob_key(data: bytes) -> str:
    return f"messages/{MID}/{hashlib.sha256(data).hexdigest()}"


def test_every_file_is_copied_under_its_content_key_and_the_manifest_points_into_the_archive() -> None:
    store = MemoryStore()
    parsed, staged_manifest = staged(store)

    result = archive(parsed, store=store, archive_bucket="archive")

    expected_blobs = {blob_key(b"From: a\r\n\r\nraw"), blob_key(b"see attached"), blob_key(b"<p>see attached</p>")}
    expected_blobs.add(blob_key(PDF))
    assert store.keys("archive") == sorted([*expected_blobs, MANIFEST_KEY])
    archived = Manifest.model_validate_json(store.data("archive", MANIFEST_KEY))
    assert archived.original.bucket == "archive"
    assert archived.original.key == blob_key(b"From: a\r\n\r\nraw")
    assert archived.text is not None
    assert archived.text.key == blob_key(b"see attached")
    assert [f.location.key for f in archived.attachments] == [blob_key(PDF)] * 2
    assert [f.filename for f in archived.attachments] == ["scan.pdf", "scan-copy.pdf"]
    assert without_locations(archived) == without_locations(staged_manifest)
    data = store.data("archive", MANIFEST_KEY)
    assert result == Archived(
        message_id=MID,
        received_at=RECEIVED_AT,
        manifest=ObjectRef(bucket="archive", key=MANIFEST_KEY, size=len(data), sha256=hashlib.sha256(data).hexdigest()),
    )


def test_the_same_bytes_twice_are_one_copy_and_the_manifest_goes_last() -> None:
    store = MemoryStore()
    parsed, _ = staged(store)

    archive(parsed, store=store, archive_bucket="archive")

    copies = [key for verb, _, key in store.writes if verb == "copy"]
    assert len(copies) == len(set(copies)) == 4  # original, text, html, one PDF for two attachments
    assert store.writes[-1] == ("put", "archive", MANIFEST_KEY)
    assert [w for w in store.writes if w[2] == MANIFEST_KEY] == [("put", "archive", MANIFEST_KEY)]


def test_running_again_writes_nothing_and_returns_the_same_manifest() -> None:
    store = MemoryStore()
    parsed, _ = staged(store)
    first = archive(parsed, store=store, archive_bucket="archive")
    store.writes.clear()

    again = archive(parsed, store=store, archive_bucket="archive")

    assert again == first
    assert store.writes == []  # no new object version: Object Lock is never asked to overwrite


def test_a_run_interrupted_before_its_manifest_copies_only_what_is_missing_then_publishes_it() -> None:
    store = MemoryStore()
    parsed, _ = staged(store)
    store.add("archive", blob_key(PDF), PDF)  # the earlier attempt got this far

    archive(parsed, store=store, archive_bucket="archive")

    assert ("copy", "archive", blob_key(PDF)) not in store.writes
    assert len([w for w in store.writes if w[0] == "copy"]) == 3
    assert store.writes[-1] == ("put", "archive", MANIFEST_KEY)


def test_an_archived_manifest_that_exists_is_kept_and_referenced_as_stored() -> None:
    store = MemoryStore()
    parsed, _ = staged(store)
    earlier = b'{"written":"by an earlier attempt"}'
    store.add("archive", MANIFEST_KEY, earlier)

    result = archive(parsed, store=store, archive_bucket="archive")

    assert store.data("archive", MANIFEST_KEY) == earlier
    assert (result.manifest.size, result.manifest.sha256) == (len(earlier), hashlib.sha256(earlier).hexdigest())
    assert ("put", "archive", MANIFEST_KEY) not in store.writes


def test_a_staged_file_that_vanished_is_missing_and_no_manifest_is_published() -> None:
    store = MemoryStore()
    parsed, _ = staged(store)
    del store.objects[("staging", f"parts/{MID}/html")]

    with pytest.raises(SourceObjectMissingError) as raised:
        archive(parsed, store=store, archive_bucket="archive")

    assert type(raised.value) is SourceObjectMissingError
    assert MANIFEST_KEY not in store.keys("archive")


def test_a_missing_staging_manifest_is_missing_and_archives_nothing() -> None:
    store = MemoryStore()
    parsed, _ = staged(store)
    del store.objects[("staging", f"manifests/{MID}.json")]

    with pytest.raises(SourceObjectMissingError) as raised:
        archive(parsed, store=store, archive_bucket="archive")

    assert type(raised.value) is SourceObjectMissingError
    assert store.keys("archive") == []
