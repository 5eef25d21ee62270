"""Open a zip-based document only after its central directory says it is safe to inflate.

A few kilobytes of zip can declare gigabytes of content (a zip bomb) or millions of entries. The
declared sizes are a trustworthy bound: zipfile stops inflating an entry at its declared size and
reports a CRC error, so summing them before any parser touches the archive caps what it can cost:
absolutely (TOO_LARGE) and relative to the file's own size (TOO_COMPLEX), since a few MB of XML can
already cost a parser hundreds of MB.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsing.errors import corrupt, short_reason
from chalicelib.parsing.limits import ParseLimits

# What zipfile raises for damaged, truncated, encrypted or exotic archives.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    KeyError,
)


def open_checked(data: bytes, kind: str, limits: ParseLimits) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except ZIP_ERRORS as exc:
        raise corrupt(kind, f"it is not a readable zip package ({short_reason(exc)})") from None
    if len(entries) > limits.max_zip_entries:
        raise DocumentError(
            ErrorCode.TOO_LARGE,
            f"The {kind} holds {len(entries):,} files inside its zip package; the limit is "
            f"{limits.max_zip_entries:,}. It may be a zip bomb; re-save it from its application.",
        )
    declared = sum(entry.file_size for entry in entries)
    if declared > limits.max_zip_uncompressed_bytes:
        raise DocumentError(
            ErrorCode.TOO_LARGE,
            f"The {kind} unpacks to {declared:,} bytes; the limit is "
            f"{limits.max_zip_uncompressed_bytes:,}. It may be a zip bomb; split it into smaller files.",
        )
    allowed = max(limits.zip_expansion_floor_bytes, limits.max_zip_expansion_ratio * len(data))
    if declared > allowed:
        raise DocumentError(
            ErrorCode.TOO_COMPLEX,
            f"The {kind} unpacks to {declared:,} bytes, {declared / len(data):,.0f} times its own size; "
            f"files are refused past {limits.max_zip_expansion_ratio:,} times (once past "
            f"{limits.zip_expansion_floor_bytes:,} bytes). Real documents compress far less: it may be "
            "a zip bomb or machine-made. Re-save it from its application, or split it.",
        )
    return archive


@contextmanager
def member(archive: zipfile.ZipFile, name: str, kind: str) -> Iterator[IO[bytes]]:
    """One entry of the archive; any failure to inflate it is the document's damage, not ours."""
    try:
        with archive.open(name) as stream:
            yield stream
    except DocumentError:
        raise
    except ZIP_ERRORS as exc:
        raise corrupt(kind, f"its part {name} cannot be unpacked ({short_reason(exc)})") from None


def has_member(archive: zipfile.ZipFile, name: str) -> bool:
    try:
        archive.getinfo(name)
    except KeyError:
        return False
    return True
