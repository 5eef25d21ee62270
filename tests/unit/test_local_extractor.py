"""The offline extractor on realistic documents written here: entities, language, type, key phrases."""

from __future__ import annotations

import concurrent.futures

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters import local_entities, local_extractor
from chalicelib.adapters.local_extractor import LocalExtractor
from chalicelib.extraction import Extraction

EMAIL = """From: Jane Doe <jane.doe@northwind-traders.com>
To: Robert Chen <r.chen@contoso.com>
Date: Tue, 12 Mar 2024 09:15:00 +0000
Subject: Delivery schedule for the Lisbon warehouse

Hi Robert,

Thanks for the call yesterday. As agreed, Northwind Traders Ltd will ship the first 40 pallets on \
March 18, 2024, and the remaining stock by 2024-04-02.

The freight quote from Atlantic Shipping Inc. came in at $12,400.00, which is within the budget \
Dr. Maria Santos approved last week. Please confirm the unloading slot with the warehouse team before Friday.

The updated schedule is on https://intranet.northwind-traders.com/logistics/lisbon.

Best regards,
Jane Doe
"""

INVOICE = """INVOICE

Invoice number: INV-2024-0317
Invoice date: 12 March 2024
Due date: 11/04/2024

Bill to:
Contoso Corporation
Attn: Mr. Robert Chen
1 Harbour Way, Dublin

From: Fabrikam GmbH, Hauptstrasse 5, Berlin

Description                     Qty     Unit price     Amount
Industrial sensor kit            10       €120.00      €1,200.00
Installation and calibration      1       €350.00        €350.00

Subtotal: €1,550.00
VAT (19%): €294.50
Total due: EUR 1,844.50

Payment terms: 30 days. Questions: billing@fabrikam.de
"""

ABSTRACT = """Sleep deprivation impairs hippocampal memory consolidation in adult mice

Abstract

Sleep is thought to support the consolidation of newly acquired memories. Here we show that five hours \
of sleep deprivation after training impairs hippocampal memory consolidation in adult mice. Sleep-deprived \
mice showed reduced hippocampal activity and weaker recall in the object-place recognition task. \
Restoring protein synthesis in hippocampal neurons rescued memory consolidation despite sleep \
deprivation. These results identify hippocampal protein synthesis as a mechanism by which sleep supports \
memory. The study was funded by the National Institutes of Health and conducted at Stanford University \
by Emily Carter and Dr. Kenji Watanabe.

Keywords: sleep, memory consolidation, hippocampus
"""

FRENCH = """La ville de Lyon a présenté le 5 mars 2024 un plan ambitieux pour la rénovation énergétique des \
écoles publiques. Selon la municipalité, les travaux réduiront la consommation de chauffage de près de \
quarante pour cent d'ici la fin de la décennie. Le budget total atteint 1,5 million EUR, financé en partie \
par la Banque des Territoires. Les parents d'élèves ont salué une initiative attendue depuis longtemps, \
tout en demandant un calendrier précis pour chaque établissement.
"""


@pytest.fixture(scope="module")
def extractor() -> LocalExtractor:
    return LocalExtractor()


def extract(extractor: LocalExtractor, text: str, **kw) -> dict:
    result = extractor.extract(text, **kw)
    assert result.error is None
    assert result.model == "local-extractor"
    Extraction.model_validate(result.data)
    return result.data


class TestRealisticDocuments:
    def test_email(self, extractor):
        data = extract(extractor, EMAIL)
        assert data["document_type"] == "email"
        assert data["title"] == "Delivery schedule for the Lisbon warehouse"
        assert data["language"] == "en"
        entities = data["entities"]
        assert entities["people"] == ["Jane Doe", "Robert Chen", "Maria Santos"]
        assert entities["organizations"] == ["Northwind Traders Ltd", "Atlantic Shipping Inc"]
        assert entities["dates"] == ["12 Mar 2024", "March 18, 2024", "2024-04-02"]
        assert entities["amounts"] == ["$12,400.00"]
        assert entities["emails"] == ["jane.doe@northwind-traders.com", "r.chen@contoso.com"]
        assert entities["urls"] == ["https://intranet.northwind-traders.com/logistics/lisbon"]
        assert {"Lisbon warehouse", "Delivery schedule", "Northwind Traders"} <= set(data["keywords"])
        # Key phrases and summary come from the subject and body, not the header lines.
        assert not {"Date", "Tue", "Mar"} & set(data["keywords"])
        body = " ".join(EMAIL.split("\n\n", 1)[1].split())
        assert data["summary"][:60] in body
        assert "From:" not in data["summary"]

    def test_invoice(self, extractor):
        data = extract(extractor, INVOICE)
        assert data["document_type"] == "invoice"
        assert data["language"] == "en"
        entities = data["entities"]
        assert entities["amounts"] == [
            "€120.00",
            "€1,200.00",
            "€350.00",
            "€1,550.00",
            "€294.50",
            "EUR 1,844.50",
        ]
        assert entities["dates"] == ["12 March 2024", "11/04/2024"]
        assert entities["organizations"] == ["Contoso Corporation", "Fabrikam GmbH"]
        assert entities["people"] == ["Robert Chen"]
        assert entities["emails"] == ["billing@fabrikam.de"]
        assert {"Invoice number", "Contoso Corporation", "Fabrikam GmbH"} <= set(data["keywords"])
        assert data["summary"].startswith(
            "INVOICE; Invoice number: INV-2024-0317; Invoice date: 12 March 2024"
        )

    def test_scientific_abstract(self, extractor):
        data = extract(extractor, ABSTRACT)
        assert data["document_type"] == "article"
        assert data["title"] == "Sleep deprivation impairs hippocampal memory consolidation in adult mice"
        assert data["language"] == "en"
        assert data["entities"]["people"] == ["Emily Carter", "Kenji Watanabe"]
        assert data["entities"]["organizations"] == ["National Institutes of Health", "Stanford University"]
        keywords = data["keywords"]
        assert {"memory consolidation", "Sleep deprivation", "hippocampal memory consolidation"} <= set(
            keywords
        )
        assert keywords[0] == "memory consolidation"
        # Layout breaks end phrases: the title's last words do not run into the "Abstract" heading.
        assert not any("Abstract" in phrase for phrase in keywords)
        assert data["summary"].startswith("Sleep is thought to support the consolidation")
        assert data["summary"].count(". ") == 2  # three sentences, the title line not among them

    def test_french_paragraph(self, extractor):
        data = extract(extractor, FRENCH)
        assert data["language"] == "fr"
        assert data["document_type"] == "other"
        assert data["title"] is None  # the first line is prose, not a title
        assert data["entities"]["dates"] == ["5 mars 2024"]
        assert data["entities"]["amounts"] == ["1,5 million EUR"]
        assert data["entities"]["organizations"] == ["Banque des Territoires"]
        assert {"rénovation énergétique", "écoles publiques", "Banque des Territoires"} <= set(
            data["keywords"]
        )
        assert data["summary"].startswith("La ville de Lyon a présenté le 5 mars 2024")

    def test_same_text_same_result(self, extractor):
        assert extractor.extract(EMAIL).data == extractor.extract(EMAIL).data
        assert extractor.extract(ABSTRACT).data == LocalExtractor().extract(ABSTRACT).data

    def test_threads_at_once_get_what_one_thread_gets(self, extractor):
        # The worker runs several records at once, and the key-phrase library releases the interpreter
        # lock, so one extractor per language serves threads truly in parallel.
        texts = [EMAIL, INVOICE, FRENCH] * 8
        alone = [extractor.extract(text).data for text in texts]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            together = list(pool.map(lambda text: extractor.extract(text).data, texts))
        assert together == alone


class TestEntities:
    @pytest.mark.parametrize(
        "written",
        [
            "2024-03-12",
            "12 March 2024",
            "March 12, 2024",
            "03/12/2024",
            "12.03.2024",
            "1st Sept. 2023",
            "Mar 3 2021",
        ],
    )
    def test_date_formats(self, extractor, written):
        assert extract(extractor, f"The meeting is on {written} at noon.")["entities"]["dates"] == [written]

    @pytest.mark.parametrize(
        "text", ["Upgrade to GTK 3.24.34 first.", "Call 555-1234 or room 12/40.", "On 2024-13-45."]
    )
    def test_numbers_that_are_not_dates(self, extractor, text):
        assert extract(extractor, text)["entities"]["dates"] == []

    @pytest.mark.parametrize(
        "written",
        ["$1,200.50", "€30", "1.5 million USD", "GBP 400", "30 €", "400 euros", "US$ 2.5 billion", "£5m"],
    )
    def test_amount_formats(self, extractor, written):
        assert extract(extractor, f"They agreed on {written} for the work.")["entities"]["amounts"] == [
            written
        ]

    def test_plain_numbers_are_not_amounts(self, extractor):
        assert extract(extractor, "We shipped 1,200 units in 30 boxes in 2024.")["entities"]["amounts"] == []

    def test_organizations(self, extractor):
        text = (
            "The Acme Corp board met Globex, Inc. and staff from the University of Cambridge and the "
            "Massachusetts Institute of Technology, with Initech LLC and Deutsche Bank."
        )
        assert extract(extractor, text)["entities"]["organizations"] == [
            "Acme Corp",
            "Globex, Inc",
            "University of Cambridge",
            "Massachusetts Institute of Technology",
            "Initech LLC",
            "Deutsche Bank",
        ]

    def test_people(self, extractor):
        text = (
            "A report by Jane Smith was reviewed by Prof. Alan Turing and Ms Okafor. Dr. Jane Smith "
            "thanked Mr. Smith. The fee was paid by Acme Corp on Monday.\n\nKind regards,\nLi Wei\n"
        )
        # "Mr. Smith" adds nothing next to Jane Smith; Acme Corp is an organisation, not a person.
        assert extract(extractor, text)["entities"]["people"] == [
            "Jane Smith",
            "Alan Turing",
            "Ms. Okafor",
            "Li Wei",
        ]

    def test_urls_lose_trailing_punctuation(self, extractor):
        text = "See https://example.org/a_(b) and (https://example.com/docs), or www.example.net/x."
        assert extract(extractor, text)["entities"]["urls"] == [
            "https://example.org/a_(b)",
            "https://example.com/docs",
            "www.example.net/x",
        ]

    def test_entities_are_deduplicated_and_capped(self, extractor):
        addresses = " ".join(f"user{i}@example.com" for i in range(30))
        data = extract(extractor, f"Write to Sales@Example.com or sales@example.com. {addresses}")
        emails = data["entities"]["emails"]
        assert len(emails) == 20
        assert emails[:2] == ["Sales@Example.com", "user0@example.com"]


class TestDocumentTypes:
    def test_declared_csv_is_a_table(self, extractor):
        data = extract(extractor, "name,city,amount\nAna,Porto,12\nBo,Oslo,40\n", content_type="text/csv")
        assert data["document_type"] == "table"
        assert data["title"] is None
        assert data["summary"] == "A table of 2 rows with columns: name, city, amount."

    def test_undeclared_tab_separated_text_is_a_table(self, extractor):
        text = "id\tproduct\tprice\n1\tlamp\t20\n2\tdesk\t150\n3\tchair\t45\n"
        assert extract(extractor, text, content_type="text/plain")["document_type"] == "table"

    def test_source_code(self, extractor):
        code = (
            "import os\nfrom pathlib import Path\n\n\n"
            "def load(path):\n    return Path(path).read_text()\n\n\n"
            "class Cache:\n    def __init__(self):\n        self.items = {}\n"
        )
        data = extract(extractor, code)
        assert data["document_type"] == "code"
        assert data["title"] is None

    def test_letter(self, extractor):
        text = (
            "Dear Ms. Alvarez,\n\nThank you for your application to the apprenticeship programme. We are "
            "pleased to offer you a place starting in September.\n\nYours sincerely,\nTom Price\n"
        )
        assert extract(extractor, text)["document_type"] == "letter"

    def test_declared_email_type(self, extractor):
        assert (
            extract(extractor, "Hello team, see you at noon.", content_type="message/rfc822")["document_type"]
            == "email"
        )

    def test_markdown_heading_is_the_title(self, extractor):
        text = (
            "An intro line that is long enough to be prose, ending with a stop.\n\n## Release notes\n\nText."
        )
        assert extract(extractor, text)["title"] == "Release notes"

    def test_title_hint_wins(self, extractor):
        assert extract(extractor, ABSTRACT, title_hint="  Sleep   and memory ")["title"] == "Sleep and memory"


class TestOddInput:
    @pytest.mark.parametrize("text", ["", "   \n\t  ", "\x00" * 500])
    def test_empty_text(self, extractor, text):
        data = extract(extractor, text)
        assert data == Extraction().model_dump()

    def test_too_little_text_has_no_language(self, extractor):
        assert extract(extractor, "Hello")["language"] is None

    def test_binary_looking_text(self, extractor):
        noise = bytes(range(256)).decode("latin-1") * 100 + " contact: ops@example.com"
        data = extract(extractor, noise)
        assert (data["language"], data["title"], data["keywords"], data["summary"]) == (None, None, [], "")
        assert data["entities"]["emails"] == ["ops@example.com"]

    def test_a_long_document_is_read_only_up_to_its_prefix(self, extractor):
        filler = ("The quarterly figures were reviewed by the board in detail. " * 60 + "\n\n") * 200
        text = filler[: local_extractor.SAMPLE_CHARS] + "\n\nLate contact: late@example.com\n" + filler * 5
        assert len(text) > 3_000_000
        data = extract(extractor, text)
        assert data["language"] == "en"
        assert data["entities"]["emails"] == []
        assert len(data["summary"]) <= local_extractor.MAX_SUMMARY_CHARS

    def test_a_single_enormous_word(self, extractor):
        data = extract(extractor, "a" * 1_000_000)
        assert data["keywords"] == []
        assert len(data["summary"]) <= local_extractor.MAX_SUMMARY_CHARS

    @settings(max_examples=100, deadline=None)
    @given(text=st.text(max_size=2000), content_type=st.sampled_from([None, "text/plain", "text/csv", "x/y"]))
    def test_any_text_gives_valid_data(self, extractor, text, content_type):
        result = extractor.extract(text, content_type=content_type)
        assert result.error is None
        Extraction.model_validate(result.data)
        assert len(result.data["summary"]) <= local_extractor.MAX_SUMMARY_CHARS
        assert all(len(found) <= local_entities.MAX_ENTITIES for found in result.data["entities"].values())

    def test_lone_surrogates_leave_the_rest_of_the_text_readable(self, extractor):
        # What is left of undecodable bytes (or a "\\ud800" JSON escape): no UTF-8 string holds one, so
        # the Rust key-phrase library refuses a text with it.
        data = extract(extractor, "The Lisbon warehouse \ud800 delivery schedule. " * 5)
        assert "Lisbon warehouse" in data["keywords"]

    def test_a_language_without_a_stop_word_list_still_gets_key_phrases(self):
        assert "Northwind Traders Ltd" in local_extractor.extract_keywords(EMAIL, "ko")

    def test_czech_uses_the_list_yake_files_under_cz(self):
        czech = local_extractor._keyword_extractor("cs").stopwords
        assert "je" in czech and czech == local_extractor._keyword_extractor("cz").stopwords
        assert local_extractor._keyword_extractor("xx").stopwords == set()

    def test_a_panic_in_the_keyword_library_becomes_an_error_result(self, extractor, monkeypatch):
        # pyo3 raises a Rust panic as PanicException, a BaseException that cannot be imported by name.
        PanicException = type("PanicException", (BaseException,), {})

        class Panicking:
            def get_n_best(self, text, *, n):
                raise PanicException("called `Option::unwrap()` on a `None` value")

        monkeypatch.setattr(local_extractor, "_keyword_extractor", lambda language: Panicking())
        result = extractor.extract(EMAIL)
        assert result.data == {}
        assert result.error == (
            "local extraction failed: RuntimeError: keyword extraction failed: "
            "called `Option::unwrap()` on a `None` value"
        )

    def test_an_interrupt_in_the_keyword_library_is_not_swallowed(self, extractor, monkeypatch):
        class Interrupted:
            def get_n_best(self, text, *, n):
                raise KeyboardInterrupt

        monkeypatch.setattr(local_extractor, "_keyword_extractor", lambda language: Interrupted())
        with pytest.raises(KeyboardInterrupt):
            extractor.extract(EMAIL)

    def test_internal_failure_becomes_an_error_result(self, extractor, monkeypatch):
        def broken(text, language):
            raise RuntimeError("keyword model exploded")

        monkeypatch.setattr(local_extractor, "extract_keywords", broken)
        result = extractor.extract(EMAIL)
        assert result.data == {}
        assert result.error == "local extraction failed: RuntimeError: keyword model exploded"
        assert result.model == "local-extractor"


class TestUserSchema:
    def test_only_known_properties_of_the_schema_are_filled(self, extractor):
        schema = {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "keywords": {"type": "array", "items": {"type": "string"}},
                "sentiment": {"type": "string"},
            },
        }
        data = extractor.extract(ABSTRACT, schema=schema).data
        assert set(data) == {"title", "keywords"}
        assert data["title"].startswith("Sleep deprivation")
        assert "memory consolidation" in data["keywords"]

    def test_entities_are_narrowed_to_the_kinds_the_schema_lists(self, extractor):
        schema = {"properties": {"entities": {"type": "object", "properties": {"emails": {"type": "array"}}}}}
        data = extractor.extract(EMAIL, schema=schema).data
        assert data == {"entities": {"emails": ["jane.doe@northwind-traders.com", "r.chen@contoso.com"]}}

    def test_a_value_the_declared_type_rejects_is_left_out(self, extractor):
        strict = {"properties": {"title": {"type": "string"}, "language": {"type": "string"}}}
        nullable = {"properties": {"title": {"type": ["string", "null"]}}}
        assert extractor.extract(FRENCH, schema=strict).data == {"language": "fr"}
        assert extractor.extract(FRENCH, schema=nullable).data == {"title": None}

    def test_a_schema_without_properties_gets_nothing(self, extractor):
        assert extractor.extract(EMAIL, schema={"type": "object"}).data == {}
