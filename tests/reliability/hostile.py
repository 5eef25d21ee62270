"""A generated set of hostile files, each with the outcomes the pipeline may give it.

Built in the test run (nothing hostile is committed): broken and garbage PDFs, a zip bomb with a .docx
name, zero bytes, binary under a text name, invalid UTF-8, a 10 MB single line, JSON nested 100,000 deep,
HTML nested 60,000 deep, a PNG named .md, an XML entity bomb, a PDF past the page limit, odd Unicode
file names, and tests/bombs.py's set: a part bomb in each of docx/xlsx/pptx/odt, a docx whose tree
exhausts the parser child's memory, a PDF that exhausts its CPU time.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass

from tests import bombs
from tests.documents import encrypt_pdf, make_docx, make_pdf


@dataclass(frozen=True)
class Hostile:
    filename: str
    data: bytes
    expected: str  # "INDEXED", or the ErrorCode the document must fail with
    phrase: str | None = None  # text an INDEXED one must hold in its processed output
    why: str = ""


def _png() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _zip_bomb_docx() -> bytes:
    """A real .docx whose package also declares a 210 MB part (about 200 kB compressed): past the
    default 200 MB unpacked limit, so the guard must refuse it from the central directory alone."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_docx(["An innocent looking report."]))) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for item in source.infolist():
            bomb.writestr(item, source.read(item.filename))
        with bomb.open("word/media/zeros.bin", "w", force_zip64=True) as entry:
            block = b"\0" * (1024 * 1024)
            for _ in range(210):
                entry.write(block)
    return out.getvalue()


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    return (f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(entities)}]><lolz>&lol9;</lolz>').encode()


def hostile_files() -> list[Hostile]:
    rng = random.Random(20261124)
    garbage = bytes(rng.getrandbits(8) for _ in range(64 * 1024))
    pdf = make_pdf(
        ["The truncated survey of the Hebrides names twelve lighthouses.", "Page two of the survey."]
    )
    note = b"Field note: the cormorant colony on Inchcolm numbered 212 nests this spring.\n"
    unicode_names = [
        "naïve résumé.txt",
        "日本語のファイル名.md",
        "emoji 🚀 launch notes.txt",
        "\u202etxt.exe",  # right-to-left override: displays as "exe.txt"
        "e\u0301te\u0301 NFD.txt",  # decomposed accents
        "zero\u200bwidth\u200djoiner.txt",
        "line\nbreak\ttab.txt",  # control characters: the upload key replaces them
        "back\\slash\\..\\dots.txt",  # a path: only the last component is kept
        "Ω≈ç√∫˜µ≤≥÷ 𝕳𝖊𝖑𝖑𝖔.txt",
        ("long-" * 50) + ".txt",  # 254 characters
    ]
    files = [
        Hostile("truncated.pdf", pdf[: len(pdf) * 3 // 5], "CORRUPT", why="cut mid-file"),
        Hostile("garbage.pdf", b"%PDF-1.7\n" + garbage, "CORRUPT"),
        Hostile("header-only.pdf", b"%PDF-1.4\n%%EOF\n", "CORRUPT"),
        Hostile("encrypted.pdf", encrypt_pdf(make_pdf(["secret plans"])), "ENCRYPTED"),
        Hostile(
            "many-pages.pdf",
            make_pdf([f"page {n}" for n in range(2001)]),
            "TOO_LARGE",
            why="one page past QUARRY_MAX_PAGES",
        ),
        Hostile("bomb.docx", _zip_bomb_docx(), "TOO_LARGE"),
        Hostile("zero.txt", b"", "EMPTY"),
        Hostile("zero.pdf", b"", "EMPTY"),
        Hostile("binary.txt", garbage, "UNSUPPORTED_TYPE", why="random bytes under a text name"),
        Hostile(
            "invalid-utf8.txt",
            b"Caf\xe9 cr\xe8me br\xfbl\xe9e, \xc3\x28 and \xff\xfe stray bytes, then the word kittiwake.\n",
            "INDEXED",
            phrase="kittiwake",
            why="not UTF-8: decoded as cp1252/latin-1",
        ),
        Hostile(
            "one-line-10mb.txt",
            b"lorem ipsum " * 900_000,
            "TOO_LARGE",
            why="10.8 MB on one line: past QUARRY_MAX_CHARACTERS",
        ),
        Hostile(
            "one-line-1mb.txt",
            b"kestrel hovering " * 60_000,
            "INDEXED",
            phrase="kestrel hovering",
            why="1 MB on one line: chunked without a single newline",
        ),
        Hostile("deep.json", b"[" * 100_000 + b"1" + b"]" * 100_000, "CORRUPT"),
        Hostile("deep-object.json", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "CORRUPT"),
        Hostile(
            "deep.html",
            b"<html><body>"
            + b"<div>" * 60_000
            + b"deep words"
            + b"</div>" * 60_000
            + b"<p>after the abyss</p></body></html>",
            "INDEXED",
            phrase="after the abyss",
        ),
        Hostile("picture.md", _png(), "UNSUPPORTED_TYPE", why="a PNG named .md"),
        Hostile("laughs.xml", _billion_laughs(), "CORRUPT", why="entity expansion bomb"),
        Hostile(
            "nul-bytes.txt",
            b"before\x00\x00\x00the nul run, a fulmar\x00after\n" * 50,
            "INDEXED",
            phrase="a fulmar",
            why="NUL bytes inside text",
        ),
    ]
    files += [
        Hostile(f"part-bomb.{kind}", bombs.ratio_bomb(kind), "TOO_COMPLEX", why="40 MB of XML in 100 kB")
        for kind in bombs.KINDS
    ]
    files += [
        Hostile("tree-bomb.docx", bombs.tree_bomb_docx(), "TOO_COMPLEX", why="a 110 MB tree from 39 kB"),
        Hostile("slow.pdf", bombs.slow_pdf(), "TOO_COMPLEX", why="2 million text operators in 5 kB"),
    ]
    files += [
        Hostile(name, note, "INDEXED", phrase="cormorant colony", why="odd file name")
        for name in unicode_names
    ]
    return files
