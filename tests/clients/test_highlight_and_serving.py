"""The pieces of the clients that need no stack: marked words, filters, and which paths are the page's."""

from __future__ import annotations

from pathlib import Path

from devstack.web import WEB_DIR, page_file
from quarry_cli.highlight import match_pattern, query_terms, snippet
from quarry_cli.render import highlighted


def test_query_terms_drop_common_words_and_repeats():
    assert query_terms("How many seabirds does the keeper count? The keeper!") == [
        "many",
        "seabirds",
        "keeper",
        "count",
    ]
    assert query_terms("the a of") == []


def test_a_text_word_matches_the_query_word_it_starts_with():
    pattern = match_pattern(["count", "auditor"])
    assert [m.group(0) for m in pattern.finditer("Counts, recount, auditors' Auditor")] == [
        "Counts",
        "auditors",
        "Auditor",
    ]


def test_the_snippet_starts_near_the_first_match_on_a_word_boundary():
    text = "word " * 200 + "the Skerryvore keeper " + "tail " * 100
    shown = snippet(text, ["skerryvore"], width=120)
    assert shown.startswith("…word") and shown.endswith("…")
    assert "Skerryvore keeper" in shown and len(shown) <= 122
    assert snippet("short text", ["absent"]) == "short text"


def test_the_terminal_marks_each_match():
    text = highlighted("The keeper on Skerryvore counts seabirds", "skerryvore count")
    marked = {text.plain[span.start : span.end] for span in text.spans}
    assert marked == {"Skerryvore", "counts"}


def test_only_the_page_and_its_folder_are_served_as_files():
    assert page_file("/") == WEB_DIR / "index.html"
    assert page_file("/?x=1") == WEB_DIR / "index.html"
    assert page_file("/web/app.js") == WEB_DIR / "app.js"
    for api_path in ("/documents", "/search", "/health", "/webhooks", "/auth/config"):
        assert page_file(api_path) is None, api_path
    for outside in ("/web/../app.py", "/web/%2e%2e/app.py", "/web/../../etc/passwd", "/web/nothing.js"):
        served = page_file(outside)
        assert served is not None and not served.is_file(), outside
    assert {p.name for p in WEB_DIR.iterdir()} >= {
        "index.html",
        "app.js",
        "api.js",
        "highlight.js",
        "style.css",
    }
    assert isinstance(page_file("/web/style.css"), Path)


def test_filters_become_the_search_requests_filters():
    from quarry_cli.arguments import search_filters

    assert search_filters(
        ["content_type=text/plain", "content_type=text/csv", "team=finance", "key_prefix=a/"]
    ) == {
        "content_type": ["text/plain", "text/csv"],
        "key_prefix": "a/",
        "metadata": {"team": "finance"},
    }
    assert search_filters([]) == {}
