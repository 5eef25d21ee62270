"""How much of one document the parsers will take on before they give up with TOO_LARGE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.model import DocumentError, ErrorCode


@dataclass(frozen=True)
class ParseLimits:
    max_pages: int = 2000
    max_characters: int = 5_000_000
    max_zip_uncompressed_bytes: int = 200 * 1024 * 1024
    max_zip_entries: int = 10_000
    max_zip_expansion_ratio: int = 100
    zip_expansion_floor_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Any) -> ParseLimits:
        return cls(
            max_pages=settings.max_pages,
            max_characters=settings.max_characters,
            max_zip_uncompressed_bytes=settings.max_zip_uncompressed_bytes,
            max_zip_entries=settings.max_zip_entries,
            max_zip_expansion_ratio=settings.max_zip_expansion_ratio,
            zip_expansion_floor_bytes=settings.zip_expansion_floor_bytes,
        )


def too_many_characters(count: int, limit: int) -> DocumentError:
    return DocumentError(
        ErrorCode.TOO_LARGE,
        f"The document has more than {limit:,} characters of text (at least {count:,}); "
        "split it into smaller files.",
    )


class CharacterBudget:
    """Counts text as a parser produces it, so a huge document fails early instead of filling memory."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def spend(self, text: str) -> str:
        self.used += len(text)
        if self.used > self.limit:
            raise too_many_characters(self.used, self.limit)
        return text
