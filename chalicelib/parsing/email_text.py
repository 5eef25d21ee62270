"""E-mail (.eml, RFC 822/MIME) with the standard library: the headers people search by, then the
body (plain text preferred over HTML), then the names of attachments."""

from __future__ import annotations

import email
import logging
from collections.abc import Callable
from email import policy
from email.message import EmailMessage, Message
from typing import TypeVar

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import EMAIL
from chalicelib.parsing.html_text import html_to_text
from chalicelib.parsing.limits import CharacterBudget, ParseLimits
from chalicelib.parsing.textdecode import decode_text, tidy_lines, wide_encoding

log = logging.getLogger(__name__)
T = TypeVar("T")

_HEADERS = ("Subject", "From", "To", "Cc", "Date")
_ENCRYPTED_TYPES = frozenset(
    {"application/pkcs7-mime", "application/x-pkcs7-mime", "multipart/encrypted", "application/pgp-encrypted"}
)


def parse_email(data: bytes, limits: ParseLimits) -> ParsedDocument:
    message = _message(data)
    budget = CharacterBudget(limits.max_characters)
    plain: list[str] = []
    html: list[str] = []
    attachments: list[str] = []
    encrypted = False
    for part in message.walk():
        content_type = part.get_content_type()
        encrypted = encrypted or content_type in _ENCRYPTED_TYPES
        if part.is_multipart():
            continue
        filename = _safe(part.get_filename)
        if filename or _safe(part.get_content_disposition) == "attachment":
            attachments.append(filename or content_type)
        elif content_type == "text/plain":
            plain.append(budget.spend(_part_text(part)))
        elif content_type == "text/html":
            html.append(budget.spend(html_to_text(_part_text(part))))
    body = "\n\n".join(plain) if any(text.strip() for text in plain) else "\n\n".join(html)
    if encrypted and not body.strip():
        raise DocumentError(
            ErrorCode.ENCRYPTED,
            "The e-mail is encrypted (S/MIME or PGP); upload a decrypted copy.",
        )
    headers = [f"{name}: {value}" for name in _HEADERS if (value := _header(message, name))]
    sections = ["\n".join(headers), body]
    if attachments:
        sections.append("Attachments: " + ", ".join(attachments))
    text = tidy_lines("\n\n".join(section for section in sections if section.strip()))
    return ParsedDocument(content_type=EMAIL, pages=[Page(text=text)], title=_header(message, "Subject"))


def _message(data: bytes) -> Message:
    # A message saved as UTF-16 (some Windows tools do) is text the MIME parser cannot see as
    # ASCII headers: decode it first and parse the text.
    if wide_encoding(data):
        text = decode_text(data)
        if text is not None:
            return email.message_from_string(text, policy=policy.default)
    return email.message_from_bytes(data, policy=policy.default)


def _part_text(part: Message) -> str:
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else None
        if isinstance(content, str):
            return content
    except (LookupError, ValueError, AssertionError, UnicodeError):
        pass  # an unknown or lying charset: decode the bytes ourselves below
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_text(payload, part.get_content_charset()) or ""


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:  # the header parser can trip over malformed addresses or encoded words
        value = None
        log.debug("unreadable %s header", name, exc_info=True)
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _safe(getter: Callable[[], T]) -> T | None:
    try:
        return getter()
    except Exception:  # malformed parameters: treat as absent
        return None
