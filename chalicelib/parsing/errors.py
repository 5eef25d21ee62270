"""DocumentErrors with messages a person can act on, worded the same way by every parser."""

from __future__ import annotations

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsing.content_types import SUPPORTED_SUMMARY, UNSUPPORTED_ADVICE

_REASON_CHARS = 200


def short_reason(exc: BaseException) -> str:
    """One line about what a library complained of: enough to recognise, short enough to store."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > _REASON_CHARS:
        text = text[: _REASON_CHARS - 3] + "..."
    return text


def corrupt(kind: str, reason: str | BaseException) -> DocumentError:
    if isinstance(reason, MemoryError):  # parsers catch Exception around their library: not damage
        return OutOfMemory()
    if isinstance(reason, BaseException):
        reason = short_reason(reason)
    ending = "" if reason.endswith(".") else "."
    return DocumentError(ErrorCode.CORRUPT, f"The {kind} is damaged and cannot be read: {reason}{ending}")


def unsupported(content_type: str) -> DocumentError:
    advice = UNSUPPORTED_ADVICE.get(content_type, f"{content_type} files are not supported")
    return DocumentError(ErrorCode.UNSUPPORTED_TYPE, f"{advice}; supported types: {SUPPORTED_SUMMARY}.")


def binary_not_text(filename: str) -> DocumentError:
    return DocumentError(
        ErrorCode.UNSUPPORTED_TYPE,
        f"'{filename}' contains binary data in a format that was not recognised, not text; "
        f"supported types: {SUPPORTED_SUMMARY}.",
    )


def empty_file() -> DocumentError:
    return DocumentError(ErrorCode.EMPTY, "The file is empty (0 bytes); upload a file with content.")


def no_text(kind: str = "file") -> DocumentError:
    return DocumentError(ErrorCode.EMPTY, f"The {kind} contains no text.")


def encrypted(kind: str, detail: str = "upload a copy without a password.") -> DocumentError:
    return DocumentError(ErrorCode.ENCRYPTED, f"The {kind} is password-protected; {detail}")


class OutOfMemory(DocumentError):
    """Reading the file ran out of memory (in the parser child: past its QUARRY_PARSE_MEMORY_MB)."""

    def __init__(self) -> None:
        super().__init__(
            ErrorCode.TOO_COMPLEX,
            "Reading this file needed more memory than is available; it is unusually complex for its "
            "size: save a simpler copy from its application, or split it.",
        )
