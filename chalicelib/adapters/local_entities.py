"""Entities in plain text by rule: e-mails, URLs, dates, money amounts, organisations and people.

Regular expressions and heuristics, each documented where it is defined; hand-written because the NER
libraries that find people and organisations need model downloads (spaCy's models are not on PyPI)
or a GPU-sized dependency, and this must run offline and cheaply in the local stack.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.extraction import Entities

MAX_ENTITIES = 20

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_URL = re.compile(r"\bhttps?://[^\s<>\"'`{}|\\^\[\]]+|\bwww\.[A-Za-z0-9-]+\.[^\s<>\"'`{}|\\^\[\]]+")

_MONTH = (
    r"(?i:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
    r"|janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre"
    r"|januar|februar|märz|juni|juli|oktober|dezember)"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
# ISO 2024-03-12 (and 2024/03/12); 12 March 2024, 1er mars 2024, 12. März 2024; March 12, 2024;
# numeric 03/12/2024, 03/12/24 or 12.03.2024, whose day and month order is left as written (dotted
# ones need a four-digit year: 3.24.34 is a version number).
_DATE = re.compile(
    rf"\b\d{{4}}[-/](?:0?[1-9]|1[0-2])[-/]{_DAY}\b"
    rf"|\b{_DAY}(?:st|nd|rd|th|er)?\.?[ \t]+{_MONTH}\.?,?[ \t]+\d{{4}}\b"
    rf"|\b{_MONTH}\.?[ \t]+{_DAY}(?:st|nd|rd|th)?,?[ \t]+\d{{4}}\b"
    rf"|\b{_DAY}/{_DAY}/(?:\d{{4}}|\d{{2}})\b(?!/\d)|\b{_DAY}\.{_DAY}\.\d{{4}}\b(?!\.\d)"
)

_NUMBER = r"\d{1,3}(?:[,.\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SCALE = r"(?:[ \t]?(?:thousand|million|billion|trillion)\b|(?:bn|k|m)\b)?"
_SYMBOL = r"(?:US\$|CA\$|AU\$|A\$|NZ\$|HK\$|[$€£¥₹₩₽₺₪])"
_CODE = r"(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|CNY|INR|SEK|NOK|DKK|PLN|BRL|MXN|ZAR|SGD|HKD)"
_CURRENCY_WORD = r"(?:dollars?|euros?|pounds?(?: sterling)?|yen|francs?)"
# $1,200.50 · €30 · GBP 400 · 1.5 million USD · 30 € · 400 euros
_AMOUNT = re.compile(
    rf"(?<![\w$]){_SYMBOL}[ \t]?(?:{_NUMBER}){_SCALE}"
    rf"|\b{_CODE}[ \t]?(?:{_NUMBER}){_SCALE}"
    rf"|(?<![\w.,])(?:{_NUMBER}){_SCALE}[ \t]?(?:{_CODE}\b|[€£¥₹]|{_CURRENCY_WORD}\b)"
)

_CAPITALISED = r"[A-ZÀ-ÖØ-Þ][\w&'’-]*"
_ORG_SUFFIX = (
    r"(?:Inc|Incorporated|Ltd|Limited|LLC|LLP|PLC|plc|Corp|Corporation|Company|GmbH|AG|SA|SAS|SARL|BV|NV|"
    r"University|Institute|Bank|Foundation|Group|Holdings|Laboratories|Labs|Association|Agency|College|"
    r"Hospital|Society|Partners|Technologies|Consulting)"
)
_ORG_FIRST = (
    r"(?:University|Institute|Institutes|Bank|College|Ministry|Department|School|Museum|Academy|"
    r"Université|Institut|Banque|Société|Ministère|Caisse|Fondation|Universität|Bundesamt)"
)
# Organisations: up to five capitalised words ending in a company or institution word (Acme Corp,
# Acme, Inc., Northwind Bank, Massachusetts Institute of Technology), or such a word followed by
# "of" and capitalised words (University of Cambridge). A sentence's first word can ride along
# ("The Acme Corp"), so leading function words are dropped afterwards.
_ORGANISATION = re.compile(
    rf"\b(?:{_CAPITALISED}[ \t]+){{0,4}}{_ORG_FIRST}[ \t]+(?:of|de|des|du|für|der)[ \t]+"
    rf"(?:the[ \t]+|la[ \t]+)?{_CAPITALISED}"
    rf"(?:[ \t]+{_CAPITALISED}){{0,3}}"
    rf"|\b(?:(?!{_ORG_SUFFIX}\b){_CAPITALISED},?[ \t]+(?:(?:of|and|&|for|de|du)[ \t]+)?){{1,5}}"
    rf"{_ORG_SUFFIX}\b\.?"
)
_LEADING_FUNCTION_WORDS = re.compile(
    r"^(?:(?i:the|a|an|at|in|on|from|to|for|by|with|and|of|dear|our|your|this|that|contact|le|la|les)\s+)+"
)

_NAME = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+(?:[-'’][A-ZÀ-ÖØ-Þ]?[a-zà-öø-ÿ]+)*"
_FULL_NAME = rf"{_NAME}(?:[ \t]+(?:[A-Z]\.[ \t]*)?{_NAME}){{1,2}}"
_HONORIFIC = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Sir|Dame|Rev|Mme|Mlle|Herr|Frau)"
# People: an honorific and a name (Dr. Jane Smith, Ms Okafor); two or three capitalised words after
# "by" (a by-line, "signed by"); the display name in a From/To/Cc header ("Jane Doe <jane@x.org>");
# two or three capitalised words alone on the line after a sign-off (Regards, Sincerely, ...).
_PERSON = re.compile(
    rf"\b{_HONORIFIC}\.?[ \t]+(?P<titled>{_NAME}(?:[ \t]+(?:[A-Z]\.[ \t]*)?{_NAME}){{0,2}})"
    rf"|\b[Bb]y[ \t]+(?P<byline>{_FULL_NAME})\b"
    rf"|(?:^(?:From|To|Cc|Reply-To):|,)[ \t]*\"?(?P<header>{_FULL_NAME})\"?[ \t]*<[^<>@\s]+@"
    rf"|\b(?i:regards|sincerely|best|thanks|thank you|cheers|cordialement|yours truly|yours faithfully),?"
    rf"[ \t]*\r?\n+[ \t]*(?P<signature>{_FULL_NAME})[ \t]*$",
    re.M,
)
_NOT_NAME_WORDS = re.compile(
    rf"\b(?:{_ORG_SUFFIX}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|{_MONTH})\b"
)


def find_entities(text: str) -> Entities:
    organizations = _organizations(text)
    return Entities(
        people=_people(text, organizations),
        organizations=organizations,
        dates=_unique(m.group(0) for m in _DATE.finditer(text)),
        amounts=_unique(m.group(0).strip() for m in _AMOUNT.finditer(text)),
        emails=_unique(m.group(0) for m in _EMAIL.finditer(text)),
        urls=_unique(_trim_url(m.group(0)) for m in _URL.finditer(text)),
    )


def _organizations(text: str) -> list[str]:
    # The match always ends in an institution word, so dropping leading function words leaves a name.
    names = (
        _LEADING_FUNCTION_WORDS.sub("", " ".join(m.group(0).rstrip(".").split()))
        for m in _ORGANISATION.finditer(text)
    )
    return _unique(names)


def _people(text: str, organizations: list[str]) -> list[str]:
    found = []
    for match in _PERSON.finditer(text):
        name = " ".join(next(group for group in match.groups() if group).split())
        if _NOT_NAME_WORDS.search(name) or name in organizations:
            continue
        if match.group("titled") and " " not in name:
            name = match.group(0).split()[0].rstrip(".") + ". " + name  # a surname alone keeps its title
        found.append(name)
    people = _unique(found)
    # "Ms. Smith" adds nothing once "Jane Smith" is known.
    full_surnames = {name.split()[-1] for name in people if " " in name and "." not in name}
    return [name for name in people if not ("." in name and name.split()[-1] in full_surnames)]


def _trim_url(url: str) -> str:
    # Sentence punctuation after a link is not part of it; a closing bracket is unless one opened inside.
    url = url.rstrip(".,;:!?'\"")
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1].rstrip(".,;:!?")
    return url


def _unique(values: Any) -> list[str]:
    """First occurrences, compared without case, at most MAX_ENTITIES."""
    seen: set[str] = set()
    unique: list[str] = []
    for value in values:
        if value and value.lower() not in seen:
            seen.add(value.lower())
            unique.append(value)
            if len(unique) == MAX_ENTITIES:
                break
    return unique


# --- user schemas --------------------------------------------------------------------------------
