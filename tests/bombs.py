"""Small files that cost a parser far more than their size: generated in the test run, never committed.

- a zip-part bomb: one part of a real docx/xlsx/pptx/odt inflated with a repeated element, so the
  package unpacks to hundreds of times its size (refused by the zip guard's ratio, TOO_COMPLEX);
- a tree bomb: a .docx whose document.xml is a few MB of empty paragraphs, under the ratio guard's
  floor, that lxml turns into a tree of over a hundred MB (the parser child's memory limit);
- a slow PDF: a few kB whose pages share one content stream of ~100,000 tiny text operators, which
  pypdf takes ~12 µs each to interpret (the child's CPU limit).
"""

from __future__ import annotations

import io
import zipfile
import zlib

from tests.documents import make_docx
from tests.unit.office_builders import make_odt, make_pptx, make_xlsx

KINDS = ("docx", "xlsx", "pptx", "odt")
# Where each format's filler goes: (part, the text it is inserted before, the repeated element).
_PARTS = {
    "docx": ("word/document.xml", "</w:body>", b"<w:p/>"),
    "xlsx": ("xl/worksheets/sheet1.xml", "</sheetData>", b'<row r="2"/>'),
    "pptx": ("ppt/slides/slide1.xml", "</p:txBody>", b"<a:p/>"),
    "odt": ("content.xml", "</office:text>", b"<text:p/>"),
}


def _small_package(kind: str) -> bytes:
    if kind == "docx":
        return make_docx(["An innocent looking report."])
    if kind == "xlsx":
        return make_xlsx({"Sheet": [["name", "count"], ["gannet", 4]]})
    if kind == "pptx":
        return make_pptx([(["An innocent looking slide."], None)])
    return make_odt("<text:p>An innocent looking letter.</text:p>")


def inflated(kind: str, filler_bytes: int) -> bytes:
    """A real `kind` package with about `filler_bytes` of one repeated empty element in its main part."""
    part, before, element = _PARTS[kind]
    source = zipfile.ZipFile(io.BytesIO(_small_package(kind)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == part:
                head, found, tail = content.decode().rpartition(before)
                assert found, f"{part} has no {before}"
                filler = element * (filler_bytes // len(element))
                content = head.encode() + filler + (found + tail).encode()
            package.writestr(item, content, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


def ratio_bomb(kind: str) -> bytes:
    """About 40 MB of XML in about 100 kB: under the absolute limit, far past the ratio."""
    return inflated(kind, 40 * 1024 * 1024)


def tree_bomb_docx(filler_bytes: int = 3_200_000) -> bytes:
    """Empty paragraphs, under the ratio guard's 4 MiB floor; lxml needs ~35 bytes of tree per byte."""
    return inflated("docx", filler_bytes)


def slow_pdf(operators: int = 100_000, pages: int = 20) -> bytes:
    """`pages` pages drawing the same content stream of `operators` one-letter text operators."""
    stream = zlib.compress(b"BT /F1 1 Tf " + b"(a) Tj " * operators + b"ET", 9)
    return _pdf(pages, b"/Filter /FlateDecode", stream)


def padded_pdf(text: str, pad_bytes: int) -> bytes:
    """A one-page PDF of `text` carrying an unreferenced stream of `pad_bytes` zeros: a big file that
    costs a parser nothing beyond its own bytes."""
    return _pdf(1, b"", f"BT /F1 11 Tf 50 740 Td ({text}) Tj ET".encode(), extra=b"\0" * pad_bytes)


def _pdf(pages: int, filters: bytes, stream: bytes, extra: bytes = b"") -> bytes:
    page_ids = [3 + n for n in range(pages)]
    content_id, font_id = 3 + pages, 4 + pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {pages} >>".encode(),
        *(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
            for _ in page_ids
        ),
        b"<< /Length %d %s >>\nstream\n" % (len(stream), filters) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if extra:
        objects.append(b"<< /Length %d >>\nstream\n" % len(extra) + extra + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write(b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets))
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
