"""Stream an XML document to callbacks with expat: no tree in memory and no recursion, so neither a
huge sheet nor a document nested a million elements deep can exhaust memory or the stack.

expat (2.4 and later, as in every supported Python) refuses entity-expansion bombs, and with no
ExternalEntityRefHandler set it never fetches external entities. Tag names arrive as
"namespace-uri local-name" (or just "local-name" outside any namespace).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Protocol
from xml.parsers import expat

from chalicelib.parsing.errors import corrupt, short_reason

_CHUNK = 64 * 1024


class XmlHandler(Protocol):
    def start(self, tag: str, attrs: dict[str, str]) -> None: ...

    def end(self, tag: str) -> None: ...

    def text(self, data: str) -> None: ...


def tag(namespace: str, local: str) -> str:
    return f"{namespace} {local}"


def local_name(name: str) -> str:
    return name.rpartition(" ")[2]


def parse_stream(source: IO[bytes], handler: XmlHandler, kind: str) -> None:
    parse_chunks(iter(lambda: source.read(_CHUNK), b""), handler, kind)


def parse_chunks(chunks: Iterable[bytes] | Iterable[str], handler: XmlHandler, kind: str) -> None:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.buffer_size = _CHUNK
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.text
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise corrupt(kind, f"its XML is malformed ({short_reason(exc)})") from None
