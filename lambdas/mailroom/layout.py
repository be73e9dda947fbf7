"""Where each step keeps what it makes: every key derives from the SES message id (and content).

Deterministic keys are what make a retried, redriven or restarted step overwrite its own work (in
staging) or find it already done (in the archive) instead of writing a second copy.
"""

from __future__ import annotations

SETUP_NOTIFICATION = "AMAZON_SES_SETUP_NOTIFICATION"


def staging_mime_key(message_id: str) -> str:
    """The decrypted original, in staging."""
    return f"mime/{message_id}.eml"


def staging_part_key(message_id: str, name: str) -> str:
    """An attachment (``name`` = its index) or body (``text``/``html``) extracted by Parse."""
    return f"parts/{message_id}/{name}"


def staging_manifest_key(message_id: str) -> str:
    """Parse's manifest."""
    return f"manifests/{message_id}.json"


def archive_blob_key(message_id: str, sha256: str) -> str:
    """An archived file: one object per distinct content of an email, so the same bytes twice are one copy."""
    return f"messages/{message_id}/{sha256}"


def archive_manifest_key(message_id: str) -> str:
    """The archived manifest: its references point into the archive."""
    return f"messages/{message_id}/manifest.json"
