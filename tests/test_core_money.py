"""core.money: amounts as typed, money as the bank writes it; Decimal only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.money import format_amount, format_money, parse_amount

D = Decimal


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("5", D(5)), ("5.50", D("5.5")), ("5,50", D("5.5")), ("5€", D(5)), ("5 €", D(5)),
        ("€5", D(5)), ("5 EUR", D(5)), ("5.00 eur", D(5)), ("5eur", D(5)), ("5 euro", D(5)),
        ("0,50", D("0.5")), ("12.5", D("12.5")), ("1.234,56 EUR", D("1234.56")),
        (" 40 ", D(40)), ("1.000.000,00", D(1000000)),
    ],
)
def test_parse_amount(text: str, amount: Decimal) -> None:
    parsed = parse_amount(text)
    assert parsed == amount
    assert isinstance(parsed, Decimal)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "-5", "−5", "0", "0,00", "5.555", "5,555", "05", "5.", ",5", "1e3", "5 5",
     "NaN", "Infinity", "5$", "1.234", "1,234.56", "5 €€", "€", "eur", "٥", "５"],
)
def test_parse_amount_refuses(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (D("1234.56"), "1.234,56 EUR"),
        (D("-1234.56"), "-1.234,56 EUR"),
        (D(0), "0,00 EUR"),
        (D("5"), "5,00 EUR"),
        (D("1234567.89"), "1.234.567,89 EUR"),
        (D("-0.5"), "-0,50 EUR"),
        (D("999.995"), "1.000,00 EUR"),
    ],
)
def test_format_money(amount: Decimal, text: str) -> None:
    assert format_money(amount) == text


cents = st.decimals(min_value=D("0.01"), max_value=D("999999999.99"), places=2)


@given(cents)
def test_formatted_money_parses_back(amount: Decimal) -> None:
    assert parse_amount(format_money(amount)) == amount


@given(cents)
def test_plain_amount_round_trips(amount: Decimal) -> None:
    plain = f"{amount:f}"
    assert parse_amount(plain) == amount
    assert parse_amount(plain.replace(".", ",") + " €") == amount


@given(st.decimals(min_value=D("-999999999.99"), max_value=D("999999999.99"), places=2))
def test_format_amount_keeps_the_value(amount: Decimal) -> None:
    text = format_amount(amount)
    back = D(text.replace(".", "").replace(",", "."))
    assert back == amount
