"""Builders for test documents of each supported type, with facts the tests search for."""

from __future__ import annotations

import io
import json
import textwrap


def make_pdf(pages: list[str]) -> bytes:
    """A minimal PDF with a real text layer, one string per page.

    Written by hand because pypdf writes but cannot lay out text, and a PDF-authoring library would
    be a test-only dependency for a few lines of PDF syntax.
    """

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: list[bytes] = []
    page_ids = [3 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font_id = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        content_id = page_ids[i] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        lines = textwrap.wrap(text, 80) or [""]
        ops = "BT /F1 11 Tf 14 TL 50 740 Td " + " ".join(f"({escape(line)}) '" for line in lines) + " ET"
        stream = ops.encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypt_pdf(data: bytes, password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def wav_bytes() -> bytes:
    """A short silent WAV: real audio bytes, which Quarry must refuse clearly."""
    import struct

    samples = b"\x00\x00" * 800
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt "
    header += (
        struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(samples))
    )
    return header + samples


# One file of every supported type, each holding a fact no other file mentions, and the question
# that should find it.
FACT_DOCUMENTS: dict[str, tuple[bytes, str]] = {
    "lighthouse.txt": (
        b"Skerryvore lighthouse log.\n\nThe keeper on Skerryvore counts 1,482 seabirds every morning "
        b"before lighting the lamp, and records gale warnings in a leather ledger.",
        "how many seabirds does the Skerryvore keeper count",
    ),
    "orchard.md": (
        b"# Orchard notes\n\nThe Bramley apple orchard near Faversham in Kent was planted in 1911 by "
        b"Ada Whitlock, who grafted every tree herself.\n",
        "who planted the Bramley apple orchard in Kent",
    ),
    "volcano.html": (
        b"<html><head><title>Mount Vireo</title><script>var x = 'ignore me';</script></head><body>"
        b"<h1>Mount Vireo</h1><p>Mount Vireo erupted in 1887 and covered the valley in glass-green "
        b"volcanic ash for three weeks.</p></body></html>",
        "when did Mount Vireo erupt and what colour was the ash",
    ),
    "cable.pdf": (
        make_pdf(
            [
                "Undersea infrastructure survey.",
                "The submarine telecommunications cable between Oban and Tiree carries 40 gigabits "
                "per second and was laid by the ship Northern Wren.",
            ]
        ),
        "which ship laid the submarine cable between Oban and Tiree",
    ),
    "cafeteria.docx": (
        make_docx(
            [
                "Quarterly facilities report.",
                "The espresso machine in the building C cafeteria broke down eleven times this "
                "quarter; the repair contract goes to Brightsteam Ltd.",
            ]
        ),
        "how often did the espresso machine in the cafeteria break",
    ),
    "trams.csv": (
        b"city,tram_lines,opened\nZagreb,19,1891\nLisbon,6,1873\nMelbourne,24,1884\n",
        "tram network lines in Zagreb opened 1891",
    ),
    "risotto.json": (
        json.dumps(
            {
                "recipe": "saffron risotto",
                "chef": "Lucia Ferraro",
                "cook_minutes": 22,
                "notes": "toast the carnaroli rice before adding stock",
            }
        ).encode(),
        "saffron risotto recipe by chef Lucia Ferraro",
    ),
}
