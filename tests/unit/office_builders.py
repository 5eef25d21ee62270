"""Office packages built by hand for the parsing tests: the few XML parts in a zip that each format
needs, so tests control exactly what is inside (slide order, shared strings, tracked changes)."""

from __future__ import annotations

import io
import zipfile

from chalicelib.parsing import content_types as ct


def zip_package(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _rels(*relationships: tuple[str, str, str]) -> bytes:
    items = "".join(
        f'<Relationship Id="{rid}" Type="{_OFFICE_REL}/{kind}" Target="{target}"/>'
        for rid, kind, target in relationships
    )
    return f'<Relationships xmlns="{_REL_NS}">{items}</Relationships>'.encode()


def make_xlsx(sheets: dict[str, list[list[str | int]]], title: str | None = None) -> bytes:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    shared: list[str] = []
    entries = {"_rels/.rels": _rels(("rId1", "officeDocument", "xl/workbook.xml"))}
    sheet_elements = []
    workbook_rels = [("rIdS", "sharedStrings", "sharedStrings.xml")]
    for number, (name, rows) in enumerate(sheets.items(), start=1):
        sheet_elements.append(f'<sheet name="{name}" sheetId="{number}" r:id="rId{number}"/>')
        workbook_rels.append((f"rId{number}", "worksheet", f"worksheets/sheet{number}.xml"))
        row_xml = []
        for r, row in enumerate(rows, start=1):
            cells = []
            for c, value in enumerate(row):
                ref = f"{chr(65 + c)}{r}"
                if isinstance(value, int):
                    cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                elif value:
                    shared.append(value)
                    cells.append(f'<c r="{ref}" t="s"><v>{len(shared) - 1}</v></c>')
            row_xml.append(f'<row r="{r}">{"".join(cells)}</row>')
        entries[f"xl/worksheets/sheet{number}.xml"] = (
            f'<worksheet xmlns="{main}"><sheetData>{"".join(row_xml)}</sheetData></worksheet>'.encode()
        )
    sheet_list = "".join(sheet_elements)
    entries["xl/workbook.xml"] = (
        f'<workbook xmlns="{main}" xmlns:r="{_OFFICE_REL}"><sheets>{sheet_list}</sheets></workbook>'
    ).encode()
    entries["xl/_rels/workbook.xml.rels"] = _rels(*workbook_rels)
    strings = "".join(f"<si><t>{value}</t></si>" for value in shared)
    entries["xl/sharedStrings.xml"] = f'<sst xmlns="{main}">{strings}</sst>'.encode()
    if title:
        entries["docProps/core.xml"] = (
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
            f' xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title></cp:coreProperties>'
        ).encode()
    return zip_package(entries)


def make_pptx(slides: list[tuple[list[str], str | None]]) -> bytes:
    p_ns = "http://schemas.openxmlformats.org/presentationml/2006/main"
    a_ns = "http://schemas.openxmlformats.org/drawingml/2006/main"
    entries = {"_rels/.rels": _rels(("rId1", "officeDocument", "ppt/presentation.xml"))}
    ids = "".join(f'<p:sldId id="{256 + n}" r:id="rId{n}"/>' for n in range(1, len(slides) + 1))
    entries["ppt/presentation.xml"] = (
        f'<p:presentation xmlns:p="{p_ns}" xmlns:r="{_OFFICE_REL}">'
        f"<p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"
    ).encode()
    # Slide parts named in reverse so that archive order and slide order differ.
    targets = [
        (f"rId{n}", "slide", f"slides/slide{len(slides) + 1 - n}.xml") for n in range(1, len(slides) + 1)
    ]
    entries["ppt/_rels/presentation.xml.rels"] = _rels(*targets)

    def shapes(paragraphs: list[str]) -> bytes:
        body = "".join(f"<a:p><a:r><a:t>{text}</a:t></a:r></a:p>" for text in paragraphs)
        return (
            f'<p:sld xmlns:p="{p_ns}" xmlns:a="{a_ns}"><p:cSld><p:spTree><p:sp><p:txBody>{body}'
            "</p:txBody></p:sp></p:spTree></p:cSld></p:sld>"
        ).encode()

    for (_, _, target), (paragraphs, notes) in zip(targets, slides, strict=True):
        entries[f"ppt/{target}"] = shapes(paragraphs)
        if notes:
            notes_name = target.replace("slides/slide", "notesSlides/notes")
            entries[f"ppt/{notes_name}"] = shapes([notes])
            entries[f"ppt/slides/_rels/{target.split('/')[-1]}.rels"] = _rels(
                ("rIdN", "notesSlide", f"../{notes_name}")
            )
    return zip_package(entries)


def make_odt(body: str, title: str | None = None) -> bytes:
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    table = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
    content = (
        f'<office:document-content xmlns:office="{office}" xmlns:text="{text}" xmlns:table="{table}">'
        f"<office:body><office:text>{body}</office:text></office:body></office:document-content>"
    )
    entries = {"mimetype": ct.ODT.encode(), "content.xml": content.encode()}
    if title:
        entries["meta.xml"] = (
            f'<office:document-meta xmlns:office="{office}" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<office:meta><dc:title>{title}</dc:title></office:meta></office:document-meta>"
        ).encode()
    return zip_package(entries, zipfile.ZIP_STORED)
