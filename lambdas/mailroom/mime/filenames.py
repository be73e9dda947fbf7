"""Storage-safe file names: what a sender wrote, made harmless for archives, downloads and shells."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

MAX_NAME_BYTES = 180
_RESERVED = re.compile(r'[<>:"|?*\\/]')
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.I)
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "application/ms-tnef": ".dat",
    "text/plain": ".txt",
    "application/octet-stream": ".bin",
    "image/jpeg": ".jpg",
}


def extension_for(content_type: str) -> str:
    """A conventional extension for a MIME type ('.bin' when none is known)."""
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type, strict=False) or ".bin"


def safe_filename(original: str | None, content_type: str, index: int) -> str:
    """A name safe to store and download: no directories, control characters or device names.

    `index` numbers the fallback name of an unnamed attachment (`attachment-3.pdf`).
    """
    name = unicodedata.normalize("NFC", original or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # keep the last path component only
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")  # controls, format, unassigned
    name = _RESERVED.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name or set(name) <= {"_", "."}:
        name = f"attachment-{index}{extension_for(content_type)}"
    if _WINDOWS_DEVICES.match(name):
        name = "_" + name
    return _bounded(name)


def _bounded(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    keep = MAX_NAME_BYTES - len(ext.encode("utf-8")) - (1 if ext else 0)
    short = stem.encode("utf-8")[:keep].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{short}.{ext}" if ext else short
