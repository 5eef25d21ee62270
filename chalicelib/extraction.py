"""The extraction vocabulary: the default shape every extractor fills, and checks of users' schemas.

Used by the extractors and the ingest pipeline; the API's request models live in chalicelib/api."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Entities(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[str] = Field(default_factory=list, description="Names of people mentioned")
    organizations: list[str] = Field(default_factory=list, description="Companies, institutions")
    dates: list[str] = Field(default_factory=list, description="Dates as written or ISO 8601")
    amounts: list[str] = Field(default_factory=list, description="Money amounts with currency")
    emails: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)


class Extraction(BaseModel):
    """What the extractor reports about a document. Local and LLM extractors fill the same shape."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, description="The document's title")
    summary: str = Field("", description="Two or three sentences on what the document says")
    language: str | None = Field(None, description="ISO 639-1 code of the main language")
    document_type: str = Field(
        "other", description="e.g. article, report, email, letter, invoice, table, code, other"
    )
    entities: Entities = Field(default_factory=Entities)
    keywords: list[str] = Field(default_factory=list, description="Up to 10 key phrases")


MAX_EXTRACTION_SCHEMA_BYTES = 16_384
MAX_EXTRACTION_SCHEMA_DEPTH = 32
_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def schema_validator(schema: dict[str, Any]) -> Any:
    """A Draft 2020-12 validator for a user's schema that can reach nothing outside the schema.

    jsonschema's default registry resolves a remote `$ref` (http, https, file://) with urlopen: a
    schema could make the worker fetch an internal address and echo the answer in an error. An empty
    `referencing.Registry` retrieves nothing, and check_extraction_schema refuses non-local refs up
    front, so a user learns at upload instead of at extraction."""
    from jsonschema import Draft202012Validator
    from referencing import Registry

    return Draft202012Validator(schema, registry=Registry())


def schema_violation(data: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """Why `data` does not satisfy `schema`, or None when it does."""
    from referencing.exceptions import Unresolvable

    try:
        error = next(iter(schema_validator(schema).iter_errors(data)), None)
    except Unresolvable as unresolvable:
        return f"the schema refers to something outside itself: {unresolvable}"
    return None if error is None else f"{'/'.join(map(str, error.absolute_path)) or 'data'}: {error.message}"


def _check_shape(schema: dict[str, Any]) -> None:
    """Depth and references, walked without recursion: a 100,000-deep schema must be a 400, not a
    RecursionError."""
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXTRACTION_SCHEMA_DEPTH:
            raise ValueError(
                f"extraction_schema is nested more than {MAX_EXTRACTION_SCHEMA_DEPTH} levels deep"
            )
        if isinstance(node, dict):
            for keyword in _REFERENCE_KEYWORDS:
                target = node.get(keyword)
                if target is not None and not (isinstance(target, str) and target.startswith("#")):
                    raise ValueError(
                        f"extraction_schema {keyword} {str(target)[:80]!r} points outside the schema: "
                        "only local references (#/...) are allowed"
                    )
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)


def check_extraction_schema(schema: dict[str, Any]) -> None:
    """Raise ValueError unless `schema` is a JSON Schema for an object, small enough to send to a model
    as a tool definition and to store with the document, that refers to nothing outside itself."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    _check_shape(schema)
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError("extraction_schema is not plain JSON") from error
    if size > MAX_EXTRACTION_SCHEMA_BYTES:
        raise ValueError(f"extraction_schema is larger than {MAX_EXTRACTION_SCHEMA_BYTES} bytes")
    if schema.get("type") != "object":
        raise ValueError('extraction_schema must describe an object ("type": "object")')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ValueError(f"extraction_schema is not a valid JSON Schema: {error.message}") from error
