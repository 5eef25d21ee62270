"""The CLI's key=value options, as the API's request bodies want them."""

from __future__ import annotations

from typing import Any

import typer

# Filter keys the API knows (SearchFiltersRequest); any other key matches the documents' metadata.
LISTED_FILTERS = ("content_type", "document_id")


def split_pair(pair: str, option: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{pair!r} is not key=value", param_hint=option)
    return key, value


def parse_pairs(pairs: list[str], option: str) -> dict[str, str]:
    return dict(split_pair(pair, option) for pair in pairs)


def search_filters(filters: list[str]) -> dict[str, Any]:
    """`--filter` values as POST /search's `filters`; a listed key given twice means any of its values."""
    built: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for pair in filters:
        key, value = split_pair(pair, "--filter")
        if key in LISTED_FILTERS:
            previous = built.get(key)
            built[key] = (
                value
                if previous is None
                else [*([previous] if isinstance(previous, str) else previous), value]
            )
        elif key == "key_prefix":
            built[key] = value
        else:
            metadata[key] = value
    if metadata:
        built["metadata"] = metadata
    return built
