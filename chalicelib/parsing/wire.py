"""What the worker and its parser child say to each other over their socket.

Each message is one frame of multiprocessing.connection (length-prefixed bytes). A request is a JSON
header (file name, declared type, limits) and then the file's bytes as a frame of their own, so a 50 MB
object is not copied into a pickle. Every reply is JSON: the child reads hostile files, and the worker
never unpickles what a process that may have been subverted by one sends back.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.limits import ParseLimits

READY = "ready"  # the child has imported the parsers and set its limits
PARSED = "parsed"
REFUSED = "refused"  # a DocumentError: the file's fault, with its code and message


def request_header(filename: str, declared_type: str | None, limits: ParseLimits) -> bytes:
    return json.dumps(
        {"filename": filename, "declared_type": declared_type, "limits": asdict(limits)}
    ).encode()


def read_request_header(frame: bytes) -> tuple[str, str | None, ParseLimits]:
    header = json.loads(frame)
    return header["filename"], header["declared_type"], ParseLimits(**header["limits"])


def ready(pid: int) -> bytes:
    return json.dumps({"kind": READY, "pid": pid}).encode()


def parsed(document: ParsedDocument) -> bytes:
    # Not ASCII-escaped: 5 million characters of CJK text would be 30 MB of escape sequences.
    return json.dumps({"kind": PARSED, "document": asdict(document)}, ensure_ascii=False).encode()


def refused(error: DocumentError, retiring: bool = False) -> bytes:
    """`retiring`: the child exits after this reply, so the worker must not send it another file."""
    reply = {"kind": REFUSED, "code": error.code.value, "message": error.message, "retiring": retiring}
    return json.dumps(reply).encode()


def retiring(reply: bytes) -> bytes:
    """The same reply, saying the child exits after it."""
    return json.dumps({**json.loads(reply), "retiring": True}, ensure_ascii=False).encode()


def read_reply(frame: bytes) -> dict[str, Any]:
    return json.loads(frame)


def document_of(reply: dict[str, Any]) -> ParsedDocument:
    """The parsed document a PARSED reply carries, or the DocumentError a REFUSED one does, raised."""
    if reply["kind"] == REFUSED:
        raise DocumentError(ErrorCode(reply["code"]), reply["message"])
    if reply["kind"] != PARSED:
        raise ValueError(f"unexpected reply from the parser child: {reply['kind']!r}")
    document = reply["document"]
    return ParsedDocument(
        content_type=document["content_type"],
        pages=[Page(text=page["text"], number=page["number"]) for page in document["pages"]],
        title=document["title"],
    )
