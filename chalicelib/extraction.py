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


def schema_violation(data: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """Why `data` does not satisfy `schema`, or None when it does."""
    from jsonschema import Draft202012Validator

    error = next(iter(Draft202012Validator(schema).iter_errors(data)), None)
    return None if error is None else f"{'/'.join(map(str, error.absolute_path)) or 'data'}: {error.message}"


def check_extraction_schema(schema: dict[str, Any]) -> None:
    """Raise ValueError unless `schema` is a JSON Schema for an object, small enough to send to a model
    as a tool definition and to store with the document."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if len(json.dumps(schema)) > MAX_EXTRACTION_SCHEMA_BYTES:
        raise ValueError(f"extraction_schema is larger than {MAX_EXTRACTION_SCHEMA_BYTES} bytes")
    if schema.get("type") != "object":
        raise ValueError('extraction_schema must describe an object ("type": "object")')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ValueError(f"extraction_schema is not a valid JSON Schema: {error.message}") from error
