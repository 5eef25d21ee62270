"""Documents for the reliability runs: mixed types, sizes and ways in, each with its expected outcome."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalicelib.bootstrap import Container
from chalicelib.model import document_id_for
from tests.documents import FACT_DOCUMENTS
from tests.integration.pipeline import upload

_SUBJECTS = [
    "the harbour master",
    "a beekeeper",
    "the night nurse",
    "our surveyor",
    "the archivist",
    "a ferry pilot",
    "the glassblower",
    "the orchard keeper",
    "a cartographer",
    "the lamplighter",
]
_VERBS = ["recorded", "measured", "repaired", "catalogued", "inspected", "photographed", "weighed", "counted"]
_OBJECTS = [
    "the tidal gauge",
    "seven copper kettles",
    "the north bridge",
    "a box of seed packets",
    "the signal lamp",
    "forty rolls of film",
    "the granary scales",
    "a cracked bell",
]
_PLACES = [
    "in Tromsø",
    "near Valparaíso",
    "at Kilkee",
    "outside Oaxaca",
    "in Dunedin",
    "by Lake Bled",
    "in Kraków",
    "at Île d'Yeu",
]


def sentence(rng: random.Random, serial: str) -> str:
    return (
        f"On day {rng.randint(1, 365)} {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} "
        f"{rng.choice(_OBJECTS)} {rng.choice(_PLACES)}, reference {serial}."
    )


def small_text(number: int, sentences: int = 3, seed: int = 0) -> bytes:
    """A short document with a serial number no other document holds."""
    rng = random.Random(seed * 1_000_003 + number)
    serial = f"QX{number:06d}"
    body = " ".join(sentence(rng, serial) for _ in range(sentences))
    return f"Field note {serial}\n\n{body}\n".encode()


def long_text(number: int, paragraphs: int = 12) -> bytes:
    """A document long enough for several chunks (a few thousand words)."""
    rng = random.Random(7_000_000 + number)
    serial = f"LX{number:04d}"
    parts = [" ".join(sentence(rng, f"{serial}-{p}") for _ in range(6)) for p in range(paragraphs)]
    return (f"Logbook {serial}\n\n" + "\n\n".join(parts) + "\n").encode()


@dataclass(frozen=True)
class Item:
    name: str
    data: bytes
    direct_key: str | None = None  # put straight into the raw bucket under this key; else POST /uploads
    expected: str = "INDEXED"  # or the ErrorCode a FAILED document must end with
    metadata: tuple[tuple[str, str], ...] = ()


def mixed_documents(poison: str | None = None) -> list[Item]:
    """30 documents: one of each supported type with facts, short and long texts through both ways in
    (odd keys included), and two that must fail whatever happens. With `poison`, one more text holds
    that marker (a fault can single it out)."""
    items = [Item(name, data) for name, (data, _) in FACT_DOCUMENTS.items()]
    for n in range(9):
        items.append(Item(f"note-{n}.txt", small_text(n), metadata=(("batch", "uploads"),)))
    odd_keys = [
        "tenants/acme/drops/plain.txt",
        "tenants/acme/drops/with space.txt",
        "tenants/acme/drops/ünïcødé/データ.md",
        "tenants/acme/drops/a+b=c&d.txt",
        "tenants/acme/drops/percent%20kept.txt",
        "tenants/acme/drops/deep/er/than/most/note.txt",
        "tenants/acme/drops/emoji-🚀.txt",
        "tenants/acme/drops/semi;colon,comma.txt",
        "tenants/acme/drops/tab\tin name.txt",
    ]
    for n, key in enumerate(odd_keys, start=100):
        items.append(
            Item(key.rsplit("/", 1)[-1], small_text(n), direct_key=key, metadata=(("source", "scanner"),))
        )
    for n in range(3):
        items.append(Item(f"logbook-{n}.txt", long_text(n)))
    items.append(Item("empty.txt", b"", expected="EMPTY"))
    items.append(Item("broken.pdf", b"%PDF-1.4\n1 0 obj garbage", expected="CORRUPT"))
    if poison:
        items.append(Item("poisoned.txt", small_text(999) + f"\n{poison}\n".encode()))
    return items


def submit(container: Container, aws: dict[str, Any], items: list[Item], threads: int = 8) -> dict[str, Item]:
    """Send every item in (uploads through the pre-signed URL, others straight into the bucket);
    returns document id → item."""
    bucket = container.settings.raw_bucket

    def send(item: Item) -> tuple[str, Item]:
        if item.direct_key is None:
            return upload(container, item.name, item.data, dict(item.metadata)), item
        aws["s3"].put_object(Bucket=bucket, Key=item.direct_key, Body=item.data, Metadata=dict(item.metadata))
        return document_id_for(bucket, item.direct_key), item

    with ThreadPoolExecutor(threads) as pool:
        sent = dict(pool.map(send, items))
    assert len(sent) == len(items), "two items map to one document"
    return sent
