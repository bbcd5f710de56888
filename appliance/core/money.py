"""Money as customers type it and as the bank writes it; `Decimal` only, never float."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["format_amount", "format_money", "parse_amount"]

_CENT = Decimal("0.01")

# After the currency is taken off: plain `5`, `5.50`, `5,50`, or the bank's own grouping
# `1.234,56` (grouping only with a decimal comma, so `1.234` stays ambiguous and is refused).
_PLAIN = re.compile(r"(?:0|[1-9][0-9]{0,8})(?:[.,][0-9]{1,2})?", re.ASCII)
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:\.[0-9]{3})+,[0-9]{1,2}", re.ASCII)
_CURRENCY = re.compile(r"^(?:€|euro|eur)\s*|\s*(?:€|euros|euro|eur)$", re.IGNORECASE)


def parse_amount(text: str) -> Decimal | None:
    """A positive amount with at most two decimals, or None.

    Accepts `5`, `5.50`, `5,50`, `5€`, `5 €`, `€5`, `5 EUR`, `5.00 eur`, `5eur`, and the
    bank's `1.234,56 EUR`. Refuses junk, zero, negatives, leading zeros (`05`), more than two
    decimals and anything with a float's exponent.
    """
    s = _CURRENCY.sub("", text.strip(), count=1).strip()
    if _GROUPED.fullmatch(s):
        s = s.replace(".", "")
    elif not _PLAIN.fullmatch(s):
        return None
    value = Decimal(s.replace(",", "."))
    return value if value > 0 else None


def format_amount(amount: Decimal) -> str:
    """`1.234,56` (thousands with `.`, decimals with `,`, always two decimals, `-` first)."""
    q = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    sign = "-" if q < 0 else ""
    whole, _, cents = f"{abs(q):.2f}".partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return f"{sign}{'.'.join(groups)},{cents}"


def format_money(amount: Decimal, currency: str = "EUR") -> str:
    """Money as the bank writes it: `format_money(Decimal('1234.56')) == '1.234,56 EUR'`."""
    return f"{format_amount(amount)} {currency}"
