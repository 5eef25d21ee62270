"""What a failed document tells its owner.

A provider's error text is written for operators: it names role ARNs, account ids and endpoints. The
ingest service logs it with the document id and records, for GET /documents/{id}, only the error code
and one of the messages below, chosen by the kind of failure and the pipeline stage it happened in.
A DocumentError about the file itself (a parser's: encrypted, too large, corrupt) is already written
for the person who uploaded it and is kept as it is.
"""

from __future__ import annotations

from chalicelib.model import DocumentError, ErrorCode, TransientError

_SERVICE_OF_STAGE = {
    "fetch": "the file store",
    "extract": "the extraction model",
    "embed": "the embedding service",
    "index": "the search index",
    "record": "the file store",
}
_ANY_SERVICE = "a service Quarry depends on"
# Codes whose message comes from a provider or a bug rather than from reading the file.
_NOT_ABOUT_THE_FILE = frozenset({ErrorCode.PROVIDER_ERROR, ErrorCode.INTERNAL})


class OutOfTime(TransientError):
    """The invocation's time ran out before a stage could start. Quarry's own words, safe to show."""


def service_of(stage: str | None) -> str:
    return _SERVICE_OF_STAGE.get(stage or "", _ANY_SERVICE)


def permanent_failure_message(error: DocumentError, stage: str | None) -> str:
    """The recorded message of a document that failed for good (its code is error.code)."""
    if error.code not in _NOT_ABOUT_THE_FILE:
        return error.message
    return (
        f"{_capitalised(service_of(stage))} refused this document, so it was not indexed; "
        "retrying will not help until the deployment is fixed"
    )


def retry_message(error: BaseException, stage: str | None, attempt: int) -> str:
    """The message a document shows while it waits for its next attempt."""
    if isinstance(error, OutOfTime):
        return f"Attempt {attempt} failed and will be retried: {error}"
    if isinstance(error, TransientError):
        return f"Attempt {attempt}: {service_of(stage)} could not be reached; the document will be retried"
    return f"Attempt {attempt} failed with an internal error; the document will be retried"


def gave_up_message(error: BaseException, stage: str | None, attempt: int) -> str:
    """The message of a document that failed on its last attempt."""
    if isinstance(error, OutOfTime):
        return f"Gave up after {attempt} attempts: {error}"
    if isinstance(error, TransientError):
        return f"Gave up after {attempt} attempts: {service_of(stage)} kept failing"
    return f"Gave up after {attempt} attempts: an internal error kept happening"


_SIMPLIFY = (
    "It is unusually complex for its size (very many tiny elements, a huge compressed part, or a "
    "machine-made file): open it in its application, save a simpler copy (or print it to PDF), or split "
    "it, then upload that"
)


def too_complex_memory(limit_mb: int) -> DocumentError:
    return DocumentError(
        ErrorCode.TOO_COMPLEX,
        f"Reading this file needed more than {limit_mb:,} MB of memory (the parser's limit, "
        f"QUARRY_PARSE_MEMORY_MB), so it was stopped. {_SIMPLIFY}.",
    )


def too_complex_cpu(limit_s: int) -> DocumentError:
    return DocumentError(
        ErrorCode.TOO_COMPLEX,
        f"Reading this file took more than {limit_s:,} s of CPU time (the parser's limit, "
        f"QUARRY_PARSE_CPU_S), so it was stopped. {_SIMPLIFY}.",
    )


def too_complex_time(limit_s: float) -> DocumentError:
    return DocumentError(
        ErrorCode.TOO_COMPLEX,
        f"Reading this file did not finish within {limit_s:,g} s (the parser's limit, "
        f"QUARRY_PARSE_TIMEOUT_S), so it was stopped. {_SIMPLIFY}.",
    )


def too_complex_killed(how: str) -> DocumentError:
    return DocumentError(
        ErrorCode.TOO_COMPLEX,
        f"The parser process reading this file was {how}, so the file was not read. {_SIMPLIFY}; if "
        "other files fail the same way, tell the operator.",
    )


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
