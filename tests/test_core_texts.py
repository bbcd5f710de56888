"""core.texts: every SMS template, both languages, fits one GSM-7 segment with worst-case values."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from appliance.core import examples, gsm7, texts
from appliance.core.money import format_money
from appliance.core.rules import Language, Operator, Product, Rules

RULES = Rules()
WORST_MONEY = format_money(Decimal("-1234567.89"))  # -1.234.567,89 EUR
LANGS = (Language.SQ, Language.EN, Language.SR)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _worst(lang: Language) -> dict[str, object]:
    """The longest value each placeholder can take in `lang`."""
    rules = [rule for _, rule in RULES.amounts] + [rule for _, rule in RULES.products]
    return {
        "amount": WORST_MONEY,
        "balance": WORST_MONEY,
        "target": max([texts.operator_name(o, lang) for o in Operator]
                      + [texts.product_name(p) for p in Product]
                      + ["0390123456", "a" * 24], key=len),
        "allowed": max((texts.allowed_amounts(r, lang) for r in rules), key=len),
        "operator": max((texts.operator_name(o, lang) for o in Operator), key=len),
        "service": max((texts.service_name(s, lang) for s in ("balance", "topup", "alerts")),
                       key=len),
        "product": max((texts.product_name(p) for p in Product), key=len),
        "count": 99,
        "time": "27.11.2026 14:05",
        "label": max((texts.kind_label(k, lang) for k in ("current", "business", "savings")),
                     key=len),
        "account": "***1234",
        "type": "Pagesë me kartelë jashtë vendit (POS)",
        "example": max([examples.example(RULES, o)[0] for o in Operator]
                       + [examples.example(RULES, product=p)[0] for p in Product], key=len),
        "example_amount": "1.234,56",
        "last4": "1234",
        "date": "27.11.2026",
        "code": "9999",
        "minutes": 99,
        "tries": 9,
        "hours": 999,
    }


def test_every_text_exists_in_all_three_languages() -> None:
    for key, entry in texts.TEXTS.items():
        assert len(entry) == len(texts.LANGUAGES) == 3, key
        sq, en, sr = entry
        assert all(t.strip() for t in entry), key
        assert _fields(sq) == _fields(en) == _fields(sr), key
        if any(c.isalpha() for c in re.sub(r"\{\w+\}", "", sr)):
            # a text with words, not only placeholders: Serbian is no copy of another
            assert sr not in (sq, en), key
    labels = [*texts.labels.OPERATORS.values(), *texts.labels.SERVICES.values(),
              *texts.labels.KINDS.values(), *texts.labels.MOVEMENT_TYPES.values()]
    for names in labels:
        if names:
            assert len(names) == 3
            assert all(n.strip() for n in names)
    assert all(len(words) == 3 for words in texts.labels.SPAN_WORDS)


def test_serbian_is_latin_and_transliterated_for_gsm7() -> None:
    raw = texts.render("alerts_off_done", Language.SR)
    assert "obaveštenja" in raw
    assert "isključena" in raw
    sent = texts.sms("alerts_off_done", "sr", RULES)
    assert "obavestenja" in sent
    assert "iskljucena" in sent
    assert gsm7.is_gsm7(sent)
    for entry in texts.TEXTS.values():
        assert all(not ("\u0400" <= c <= "\u04ff") for c in entry[2])  # no Cyrillic
    assert texts.language_of("sr") is Language.SR
    assert texts.language_of("SR-Latn") is Language.SR
    assert texts.movement_type_name("card_payment", "sr") == "Plaćanje karticom"
    assert gsm7.prepare(texts.movement_type_name("card_payment", "sr"), RULES) == (
        "Placanje karticom")


@pytest.mark.parametrize("key", sorted(texts.TEXTS))
@pytest.mark.parametrize("lang", LANGS)
def test_every_template_fits_one_segment(key: str, lang: Language) -> None:
    values = _worst(lang)
    if key == "help":  # the help's example is a phone top-up (decide.rejection_text)
        values["example"] = max((examples.example(RULES, o)[0] for o in Operator), key=len)
    text = texts.sms(key, lang, RULES, **values)
    assert gsm7.is_gsm7(text), text
    assert gsm7.septet_count(text) <= 160, (len(text), text)
    assert gsm7.segment_count(text) == 1


def test_render_is_albanian_first() -> None:
    assert texts.render("balance_header_current", "sq") == "Bilanci:"
    assert texts.render("balance_header_current", Language.EN) == "Balance:"
    assert "B bilanci" in texts.render("help", "sq", example="044123456 5")
    assert "B stanje" in texts.render("help", "sr", example="044123456 5")
    assert texts.render("help", "xx", example="x") == texts.render("help", "sq", example="x")


def test_help_lists_every_command() -> None:
    for lang in LANGS:
        help_text = texts.render("help", lang, example="044123456 5")
        for word in ("B ", "BK", "044123456 5", "Internet", "TV", "DuoTV", "DuoFIX"):
            assert word in help_text


def test_stranger_refusal_has_no_digits() -> None:
    for lang in LANGS:
        assert not any(c.isdigit() for c in texts.render("stranger", lang))


def test_transliteration_off_keeps_albanian_letters() -> None:
    text = texts.sms("balance_header_savings", "sq", Rules(transliterate=False))
    assert text == "Bilanci i kursimit:"
    text = texts.sms("no_account_current", "sq", Rules(transliterate=False))
    assert "rrjedhëse" in text
    assert gsm7.segment_count(text) == 1  # UCS-2, still one segment


def test_helpers() -> None:
    assert texts.account_label("XK051212012345678906") == "***8906"
    assert texts.account_label("1234") == "***1234"
    assert texts.signed_money(Decimal("12.5")) == "+12,50 EUR"
    assert texts.signed_money(Decimal("-12.5")) == "-12,50 EUR"
    summer = datetime(2026, 7, 1, 10, 5, tzinfo=UTC)
    winter = datetime(2026, 11, 27, 10, 5, tzinfo=UTC)
    assert texts.local_time(summer, RULES) == "01.07.2026 12:05"
    assert texts.local_time(winter, RULES) == "27.11.2026 11:05"
    assert texts.local_time(winter, RULES, now=winter) == "11:05"
    vala = RULES.amount_rule(Operator.VALA)
    ipko = RULES.amount_rule(Operator.IPKO_MOBILE)
    assert vala is not None
    assert ipko is not None
    assert texts.allowed_amounts(vala, "sq") == "1, 2, 3, 5, 10, 20, 40 EUR"
    assert texts.allowed_amounts(ipko, "en") == "1 to 50 EUR, whole euros"
    assert texts.allowed_amounts(ipko, "sq") == "1 deri 50 EUR, vetëm euro të plota"
    assert texts.allowed_amounts(ipko, "sr") == "1 do 50 EUR, samo celi evri"


def test_fit_shortens_only_the_free_text() -> None:
    text = texts.fit("alert", "sq", RULES, "type", account="***1234", amount=WORST_MONEY,
                     type="X" * 300, time="27.11.2026 14:05", balance=WORST_MONEY)
    assert gsm7.segment_count(text) == 1
    assert "..." in text
    assert text.count(WORST_MONEY) == 2
