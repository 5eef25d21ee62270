"""The Open Packaging Conventions parts every OOXML file shares: relationships and core properties.

Read with the streaming XML parser rather than python-pptx or openpyxl, which would add megabytes to
the Lambda package for the few elements text extraction needs.
"""

from __future__ import annotations

import posixpath
import zipfile
from typing import NamedTuple

from chalicelib.parsing.xml_stream import parse_stream, tag
from chalicelib.parsing.zipguard import has_member, member

RELATIONSHIPS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_RELATIONSHIPS_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
RELATIONSHIP_ID = tag(OFFICE_RELATIONSHIPS_NS, "id")
OFFICE_DOCUMENT = "/officeDocument"
_DUBLIN_CORE_NS = "http://purl.org/dc/elements/1.1/"
_MAX_TITLE_CHARS = 1000


class Relationship(NamedTuple):
    type: str
    target: str  # a path inside the archive


class _RelationshipCollector:
    def __init__(self, source_dir: str):
        self.source_dir = source_dir
        self.found: dict[str, Relationship] = {}

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name != tag(RELATIONSHIPS_NS, "Relationship") or attrs.get("TargetMode") == "External":
            return
        target = attrs.get("Target", "")
        if target.startswith("/"):
            path = target.lstrip("/")
        else:
            path = posixpath.normpath(posixpath.join(self.source_dir, target))
        self.found[attrs.get("Id", "")] = Relationship(attrs.get("Type", ""), path)

    def end(self, name: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


def relationships(archive: zipfile.ZipFile, part: str, kind: str) -> dict[str, Relationship]:
    """The relationships of `part` ('' for the package itself), by id, with targets as archive paths."""
    directory, base = posixpath.split(part)
    rels_name = posixpath.join(directory, "_rels", f"{base}.rels")
    if not has_member(archive, rels_name):
        return {}
    collector = _RelationshipCollector(directory)
    with member(archive, rels_name, kind) as stream:
        parse_stream(stream, collector, kind)
    return collector.found


def main_part(archive: zipfile.ZipFile, kind: str, default: str) -> str:
    """Where the package's main document lives, per its root relationships."""
    for relationship in relationships(archive, "", kind).values():
        if relationship.type.endswith(OFFICE_DOCUMENT) and has_member(archive, relationship.target):
            return relationship.target
    return default


def related(archive: zipfile.ZipFile, part: str, kind: str, type_suffix: str) -> list[str]:
    return [
        relationship.target
        for relationship in relationships(archive, part, kind).values()
        if relationship.type.endswith(type_suffix) and has_member(archive, relationship.target)
    ]


class _TitleCollector:
    def __init__(self) -> None:
        self.inside = False
        self.parts: list[str] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.inside = name == tag(_DUBLIN_CORE_NS, "title")

    def end(self, name: str) -> None:
        self.inside = False

    def text(self, data: str) -> None:
        if self.inside and sum(map(len, self.parts)) < _MAX_TITLE_CHARS:
            self.parts.append(data)


def core_title(archive: zipfile.ZipFile, kind: str, part: str = "docProps/core.xml") -> str | None:
    """dc:title from the core properties (OOXML) or meta.xml (ODF), if the file has one."""
    if not has_member(archive, part):
        return None
    collector = _TitleCollector()
    with member(archive, part, kind) as stream:
        parse_stream(stream, collector, kind)
    return "".join(collector.parts).strip() or None
