"""Business settings the pure core decides with: data, with DESIGN §4's defaults.

`config.py` builds a `Rules` from the TOML file; tests and the core use `Rules()` as is.
Everything here is plain, immutable data so that a decision is a function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Operator(StrEnum):
    """Who runs a Kosovo number (or that nobody we serve does)."""

    VALA = "vala"
    IPKO_MOBILE = "ipko_mobile"
    IPKO_FIXED = "ipko_fixed"
    Z_MOBILE = "z_mobile"
    MTS = "mts"
    FOREIGN = "foreign"
    UNKNOWN = "unknown"


SERVED_OPERATORS: frozenset[Operator] = frozenset(
    {Operator.VALA, Operator.IPKO_MOBILE, Operator.IPKO_FIXED}
)


class Product(StrEnum):
    """IPKO's monthly products that can be paid by SMS."""

    INTERNET = "internet"
    TV = "tv"
    DUOTV = "duotv"
    DUOFIX = "duofix"


class Language(StrEnum):
    """The reply languages (DESIGN §5); the bank sends `sq|en|sr` per agreement."""

    SQ = "sq"
    EN = "en"
    SR = "sr"  # Serbian in Latin script


def language_from(text: object, default: Language = Language.SQ) -> Language:
    """The `Language` a bank or config value names (`sq`, `EN`, `sr-Latn`, `al`), else
    `default`; the one reading of a language code for the store, the sync and the core."""
    if isinstance(text, Language):
        return text
    code = str(text or "").strip().lower()
    if code.startswith(("sq", "al")):
        return Language.SQ
    if code.startswith("en"):
        return Language.EN
    if code.startswith("sr"):
        return Language.SR
    return default


@dataclass(frozen=True)
class AmountRule:
    """Which top-up amounts are allowed: an explicit list, or a range with a step."""

    allowed: tuple[Decimal, ...] = ()
    minimum: Decimal = Decimal(1)
    maximum: Decimal = Decimal(50)
    step: Decimal = Decimal(1)

    def accepts(self, amount: Decimal) -> bool:
        """True when `amount` is one this rule allows."""
        if self.allowed:
            return amount in self.allowed
        if not self.minimum <= amount <= self.maximum:
            return False
        return (amount - self.minimum) % self.step == 0


def _default_plan() -> tuple[tuple[str, Operator], ...]:
    # National significant number prefixes (after +383), longest match wins.
    # From the national plan as libphonenumber carries it (DESIGN §4); the bank may correct it.
    return (
        ("44", Operator.VALA),
        ("451", Operator.VALA),
        ("452", Operator.VALA),
        ("453", Operator.VALA),
        ("454", Operator.VALA),
        ("455", Operator.Z_MOBILE),
        ("456", Operator.Z_MOBILE),
        ("457", Operator.VALA),
        ("458", Operator.VALA),
        ("459", Operator.VALA),
        ("46", Operator.VALA),
        ("43", Operator.IPKO_MOBILE),
        ("48", Operator.IPKO_MOBILE),
        ("49", Operator.IPKO_MOBILE),
        ("47", Operator.MTS),
        ("28", Operator.IPKO_FIXED),
        ("29", Operator.IPKO_FIXED),
        ("38", Operator.IPKO_FIXED),
        ("39", Operator.IPKO_FIXED),
    )


def _default_amounts() -> tuple[tuple[Operator, AmountRule], ...]:
    vala = AmountRule(allowed=tuple(Decimal(v) for v in (1, 2, 3, 5, 10, 20, 40)))
    whole_1_50 = AmountRule(minimum=Decimal(1), maximum=Decimal(50), step=Decimal(1))
    return (
        (Operator.VALA, vala),
        (Operator.IPKO_MOBILE, whole_1_50),
        (Operator.IPKO_FIXED, whole_1_50),
    )


def _default_products() -> tuple[tuple[Product, AmountRule], ...]:
    whole = AmountRule(minimum=Decimal(1), maximum=Decimal(200), step=Decimal(1))
    return tuple((p, whole) for p in Product)


@dataclass(frozen=True)
class Rules:
    """Every business setting the core needs; `Rules()` is DESIGN §4's defaults."""

    # (prefix of the national significant number, operator); longest prefix wins.
    numbering_plan: tuple[tuple[str, Operator], ...] = field(default_factory=_default_plan)
    amounts: tuple[tuple[Operator, AmountRule], ...] = field(default_factory=_default_amounts)
    products: tuple[tuple[Product, AmountRule], ...] = field(default_factory=_default_products)
    daily_topup_amount: Decimal = Decimal(50)
    daily_topup_count: int = 5
    alert_limits: tuple[Decimal, ...] = (
        Decimal(500),
        Decimal(1000),
        Decimal(2000),
        Decimal(5000),
    )
    default_language: Language = Language.SQ
    # Transliterate ë/ç for GSM-7 (one segment) rather than sending UCS-2.
    transliterate: bool = True
    # Balances older than this many seconds are answered with their "as of" time.
    stale_after_seconds: int = 15 * 60
    timezone: str = "Europe/Belgrade"
    # A top-up or product of this many euros or more waits for a one-time code (DESIGN §4;
    # 0: off); the code is valid `confirm_seconds`.
    confirm_from: Decimal = Decimal(25)
    confirm_seconds: int = 5 * 60
    # Hours after the bank's last SIM change behind a phone during which it moves no money.
    sim_hold_hours: int = 72

    def amount_rule(self, operator: Operator) -> AmountRule | None:
        """The amount rule for top-ups to `operator`, or None when it is not served."""
        return dict(self.amounts).get(operator)

    def product_rule(self, product: Product) -> AmountRule | None:
        """The amount rule for an IPKO monthly product."""
        return dict(self.products).get(product)
