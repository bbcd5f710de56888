"""core.alerts: which movements alert, and the alert's text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core import gsm7, texts
from appliance.core.alerts import alert_text, wants_alert
from appliance.core.rules import Rules
from appliance.core.views import AccountView, AgreementView, MovementView

RULES = Rules()
D = Decimal
BOOKED = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)
ACCOUNT = AccountView("a1", "current", "XK051212012345671234", D("2000"), "EUR", BOOKED)


def agreement(limit: str = "500", services: frozenset[str] = frozenset({"alerts"}),
              language: str = "sq") -> AgreementView:
    return AgreementView("ag-1", "+38344123456", "c-1", language, D(limit), services)


def movement(amount: str, kind: str = "card_payment",
             after: str | None = "765,44") -> MovementView:
    balance = D(after.replace(",", ".")) if after is not None else None
    return MovementView("m-1", "a1", D(amount), kind, BOOKED, balance)


@pytest.mark.parametrize(
    ("amount", "limit", "due"),
    [("-500", "500", True), ("499.99", "500", False), ("-499.99", "500", False),
     ("1000", "500", True), ("-1999.99", "2000", False), ("5000", "5000", True)],
)
def test_limit_is_on_the_absolute_amount(amount: str, limit: str, due: bool) -> None:
    assert wants_alert(movement(amount), agreement(limit)) is due
    assert (alert_text(movement(amount), agreement(limit), ACCOUNT, RULES) is not None) is due


def test_no_alert_without_the_service() -> None:
    no_alerts = agreement(services=frozenset({"balance", "topup"}))
    assert alert_text(movement("-9000"), no_alerts, ACCOUNT, RULES) is None


def test_text_in_albanian() -> None:
    text = alert_text(movement("-1234.56"), agreement(), ACCOUNT, RULES)
    assert text == ("Levizje ne llogarine ***1234: -1.234,56 EUR, Pagese me karte, "
                    "27.11.2026 14:05. Bilanci i ri: 765,44 EUR.")


def test_text_in_english_same_day_shows_only_the_time() -> None:
    text = alert_text(movement("600", "transfer_in"), agreement(language="en"), ACCOUNT, RULES,
                      now=BOOKED)
    assert text == ("Movement on account ***1234: +600,00 EUR, Transfer in, 14:05. "
                    "New balance: 765,44 EUR.")


def test_falls_back_to_the_account_balance() -> None:
    text = alert_text(movement("-600", after=None), agreement(), ACCOUNT, RULES)
    assert text is not None
    assert text.endswith("Bilanci i ri: 2.000,00 EUR.")


def test_a_long_unknown_type_still_fits_one_segment() -> None:
    long_type = "Transfertë ndërbankare hyrëse nga llogaria e një klienti tjetër " * 4
    text = alert_text(movement("-1234567.89", long_type, "-1234567,89"), agreement(), ACCOUNT,
                      RULES)
    assert text is not None
    assert gsm7.is_gsm7(text)
    assert gsm7.segment_count(text) == 1
    assert "-1.234.567,89 EUR" in text
    assert "XK05" not in text


@pytest.mark.parametrize("code", sorted(texts.MOVEMENT_TYPES))
@pytest.mark.parametrize("lang", ["sq", "en"])
def test_every_bank_type_code_reads_as_a_word(code: str, lang: str) -> None:
    text = alert_text(movement("-600", code), agreement(language=lang), ACCOUNT, RULES)
    assert text is not None
    assert code not in text
    assert "_" not in text
    assert gsm7.segment_count(text) == 1


def test_type_words_per_language() -> None:
    assert texts.movement_type_name("card_payment", "sq") == "Pagesë me kartë"
    assert texts.movement_type_name("card_payment", "en") == "Card payment"
    assert texts.movement_type_name("CARD-PAYMENT ", "en") == "Card payment"
    assert texts.movement_type_name("atm_withdrawal", "en") == "ATM withdrawal"
    assert texts.movement_type_name("something_new", "sq") == "Lëvizje"
    assert texts.movement_type_name("something_new", "en") == "Movement"


@given(st.from_regex(r"[a-z]{1,12}_[a-z]{1,12}", fullmatch=True))
def test_an_unknown_code_never_reaches_the_customer(code: str) -> None:
    text = alert_text(movement("-600", code), agreement(), ACCOUNT, RULES)
    assert text is not None
    assert code not in text
    if code not in texts.MOVEMENT_TYPES:
        assert ", Levizje, " in text


def test_the_readme_books_a_movement_with_a_real_type_code() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    codes = re.findall(r"--type (\S+)", readme)
    assert codes
    assert all(code in texts.MOVEMENT_TYPES for code in codes), codes


# --- rules.alert_limits: the limits the bank offers -------------------------------------

from decimal import Decimal as _D  # noqa: E402

from appliance.core.alerts import effective_limit  # noqa: E402
from appliance.core.rules import Rules as _Rules  # noqa: E402


def test_an_offered_limit_is_applied_as_it_is() -> None:
    rules = _Rules()
    for tier in rules.alert_limits:
        assert effective_limit(tier, rules) == tier


def test_an_off_list_limit_is_taken_down_to_the_offered_one_below() -> None:
    rules = _Rules(alert_limits=(_D(500), _D(1000), _D(2000), _D(5000)))
    assert effective_limit(_D(1500), rules) == _D(1000)
    assert effective_limit(_D(9000), rules) == _D(5000)
    assert effective_limit(_D(100), rules) == _D(100)  # below every tier: the bank's own
    # So a 1,200 EUR movement alerts an agreement whose feed says 1,500 ...
    assert wants_alert(movement("-1200"), agreement("1500"), rules)
    # ... and the list really is read: with 1,500 offered, it does not.
    offered = _Rules(alert_limits=(_D(500), _D(1500)))
    assert not wants_alert(movement("-1200"), agreement("1500"), offered)


def test_every_type_code_of_the_bank_contract_has_a_word() -> None:
    """The contract's MovementTypeCode list (docs/bank-api.yaml) and the core's one table
    stay in step: a documented code never reaches a customer as the neutral word."""
    from pathlib import Path

    import yaml

    from appliance.core.texts.labels import MOVEMENT_TYPES

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "docs" / "bank-api.yaml")
                          .read_text(encoding="utf-8"))
    codes = spec["components"]["schemas"]["MovementTypeCode"]["enum"]
    assert sorted(set(codes) - set(MOVEMENT_TYPES)) == []
