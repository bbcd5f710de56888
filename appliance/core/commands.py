"""What a customer typed, as a typed command or a reasoned refusal (DESIGN §4).

`parse(text, rules)` never raises. Matching ignores case, surrounding and repeated blanks,
punctuation around words (not the `+`, `.`, `,` inside numbers and amounts, and not a
leading `-` that makes an amount negative) and Albanian diacritics (ë→e, ç→c), and drops
the courtesy words people write around a command (`Bilanc kursimi, faleminderit` is `BK`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from appliance.core import matching, phones
from appliance.core.matching import COURTESY, fold, without_courtesy
from appliance.core.money import format_amount, parse_amount
from appliance.core.rules import (
    SERVED_OPERATORS,
    AmountRule,
    Language,
    Operator,
    Product,
    Rules,
)

__all__ = [
    "COURTESY",
    "AlertsSwitch",
    "BalanceQuery",
    "CardBlockRequest",
    "Command",
    "HelpQuery",
    "LanguageChoice",
    "OwnTopUp",
    "Parsed",
    "ProductTopUp",
    "Reason",
    "Rejection",
    "StatementQuery",
    "TopUp",
    "parse",
]


@dataclass(frozen=True)
class BalanceQuery:
    """`B`/`Bilanc` (current and business accounts) or `BK`/`Bilanc kursimi` (savings)."""

    kind: str  # "current" | "savings"


@dataclass(frozen=True)
class TopUp:
    """`<number> <amount>` or `fix <number> <amount>`: a phone top-up of another number."""

    target: str  # E.164
    operator: Operator
    amount: Decimal


@dataclass(frozen=True)
class OwnTopUp:
    """`<amount>` alone: a top-up of the sender's own number (operator checked by decide)."""

    amount: Decimal


@dataclass(frozen=True)
class ProductTopUp:
    """`<product> <subscriber id> <amount>`: an IPKO monthly product."""

    product: Product
    subscriber_id: str
    amount: Decimal


@dataclass(frozen=True)
class StatementQuery:
    """`L`/`Levizjet`/`MINI`: the last movements of the agreement's accounts."""


@dataclass(frozen=True)
class AlertsSwitch:
    """`STOP`/`NDAL` (enabled False) or `START`/`FILLO` (True): alerts off or on, at the bank."""

    enabled: bool


@dataclass(frozen=True)
class LanguageChoice:
    """`SQ`/`EN`/`SR`: the language of every later reply, made at the bank."""

    language: Language


@dataclass(frozen=True)
class CardBlockRequest:
    """`BLLOKO 1234`/`BLOCK 1234`: block the sender's card with these last 4 digits."""

    last4: str


@dataclass(frozen=True)
class HelpQuery:
    """`NDIHME`/`HELP`/`?`: the help text."""


Command = (
    BalanceQuery | TopUp | OwnTopUp | ProductTopUp | StatementQuery | AlertsSwitch
    | LanguageChoice | CardBlockRequest | HelpQuery
)


class Reason(StrEnum):
    """Why a text is not a command we can carry out."""

    EMPTY = "empty"
    UNKNOWN_COMMAND = "unknown_command"
    AMOUNT_MISSING = "amount_missing"
    AMOUNT_INVALID = "amount_invalid"
    AMOUNT_NOT_ALLOWED = "amount_not_allowed"
    NUMBER_INVALID = "number_invalid"
    NUMBER_NOT_FIXED = "number_not_fixed"
    OPERATOR_NOT_SERVED = "operator_not_served"
    OPERATOR_UNKNOWN = "operator_unknown"
    NUMBER_FOREIGN = "number_foreign"
    PRODUCT_UNKNOWN = "product_unknown"
    SUBSCRIBER_MISSING = "subscriber_missing"
    SUBSCRIBER_INVALID = "subscriber_invalid"
    CARD_DIGITS = "card_digits"  # BLLOKO without exactly 4 digits after it
    # Not from parse(): the daemon's reason for a multi-part message whose parts never came.
    INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class Rejection:
    """A refusal with its reason; `detail` is a short log-safe note (never a full number).

    For AMOUNT_NOT_ALLOWED, `rule` holds the allowed amounts and `amount` what was asked;
    `operator` names the operator (or IPKO for a product) the rule belongs to, and
    `product` the product when there is one.
    """

    reason: Reason
    detail: str = ""
    operator: Operator | None = None
    product: Product | None = None
    rule: AmountRule | None = None
    amount: Decimal | None = None


Parsed = Command | Rejection

_CURRENT_WORDS = frozenset({"b", "bilanc", "bilanci"})
_SAVINGS_WORDS = frozenset({"bk", "b k", "bilanc kursimi", "bilanci kursimi", "bilanc kursim"})
_FIX_WORDS = frozenset({"fix", "fiks"})
# DESIGN §4's one-word service commands (folded).
_WORD_COMMANDS: dict[str, Command] = {
    **dict.fromkeys(("l", "levizjet", "levizje", "mini"), StatementQuery()),
    **dict.fromkeys(("stop", "ndal"), AlertsSwitch(enabled=False)),
    **dict.fromkeys(("start", "fillo"), AlertsSwitch(enabled=True)),
    "sq": LanguageChoice(Language.SQ),
    "en": LanguageChoice(Language.EN),
    "sr": LanguageChoice(Language.SR),
    **dict.fromkeys(("ndihme", "help"), HelpQuery()),
}
_BLOCK_WORDS = frozenset({"blloko", "block"})
_LAST4 = re.compile(r"[0-9]{4}", re.ASCII)
_PRODUCTS: dict[str, Product] = {
    "internet": Product.INTERNET,
    "tv": Product.TV,
    "duotv": Product.DUOTV,
    "duofix": Product.DUOFIX,
    "duofiks": Product.DUOFIX,
}
_CURRENCY_WORDS = frozenset({"€", "eur", "euro", "euros"})
# A token that starts like a number or an amount (digits, `+`, `-` or `(` then a digit).
_NUMERIC_START = re.compile(r"[+\-(]?[0-9]", re.ASCII)
_NUMBERISH = re.compile(r"[0-9+\-()/.,€]+", re.ASCII)
_SUBSCRIBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@\-]{0,63}", re.ASCII)
_WORD = re.compile(r"[a-z]+", re.ASCII)


def describe_rule(rule: AmountRule) -> str:
    """A short, language-neutral list of allowed amounts: `1, 2, 3, 5, 10, 20, 40` or `1-50`."""
    def short(d: Decimal) -> str:
        return str(int(d)) if d == d.to_integral_value() else format_amount(d)

    if rule.allowed:
        return ", ".join(short(a) for a in rule.allowed)
    return f"{short(rule.minimum)}-{short(rule.maximum)}"


def _take_amount(tokens: list[str]) -> tuple[Decimal | None, list[str]]:
    """(amount or None, the tokens before the amount's place).

    The amount is the last token, or the last two when the very last is a currency
    (`5 €`, `5 EUR`); whatever comes before is the number or the subscriber id.
    """
    if not tokens:
        return None, []
    if len(tokens) >= 2 and fold(tokens[-1]) in _CURRENCY_WORDS:
        return parse_amount(tokens[-2]), tokens[:-2]
    return parse_amount(tokens[-1]), tokens[:-1]


def _amount_check(
    amount: Decimal, rule: AmountRule | None, operator: Operator | None, product: Product | None
) -> Rejection | None:
    if rule is None:
        return Rejection(Reason.OPERATOR_NOT_SERVED, f"no amount rule for {operator}", operator)
    if not rule.accepts(amount):
        return Rejection(
            Reason.AMOUNT_NOT_ALLOWED,
            f"{amount} not in {describe_rule(rule)}",
            operator=operator,
            product=product,
            rule=rule,
            amount=amount,
        )
    return None


def _number_rejection(e164: str, rules: Rules, fixed_only: bool) -> Rejection | Operator:
    """The operator of a normalised number, or why we cannot top it up."""
    operator = phones.operator_of(e164, rules.numbering_plan)
    masked = phones.mask(e164)
    if operator is Operator.FOREIGN:
        return Rejection(Reason.NUMBER_FOREIGN, masked, Operator.FOREIGN)
    if operator is Operator.UNKNOWN:
        nsn = phones.nsn_of(e164) or ""
        if phones.prefix_operator(nsn, rules.numbering_plan) is not None:
            # A known prefix with the wrong length: a mistyped number, not a new operator.
            return Rejection(Reason.NUMBER_INVALID, f"wrong length {masked}")
        return Rejection(Reason.OPERATOR_UNKNOWN, masked, Operator.UNKNOWN)
    if operator not in SERVED_OPERATORS or rules.amount_rule(operator) is None:
        return Rejection(Reason.OPERATOR_NOT_SERVED, f"{operator} {masked}", operator)
    if fixed_only and operator is not Operator.IPKO_FIXED:
        return Rejection(Reason.NUMBER_NOT_FIXED, f"{operator} {masked}", operator)
    return operator


def _served(e164: str, rules: Rules) -> Operator | None:
    """The operator of `e164` when we top it up (so a refusal's example fits it), else None."""
    operator = phones.operator_of(e164, rules.numbering_plan)
    return operator if operator in SERVED_OPERATORS else None


def _normalize_number(tokens: list[str]) -> str | None:
    if not tokens or not all(_NUMBERISH.fullmatch(t) for t in tokens):
        return None
    return phones.normalize(" ".join(tokens))


def _phone_topup(tokens: list[str], rules: Rules, fixed_only: bool) -> Parsed:
    """`<number> <amount>` (after an optional `fix`), or `<amount>` alone."""
    whole = _normalize_number(tokens)
    if whole is not None and phones.operator_of(whole, rules.numbering_plan) is Operator.UNKNOWN:
        whole = None  # all tokens as one number only counts when it is a real number
    amount, before = _take_amount(tokens)
    if not before:
        # One amount-like thing alone: an own-number top-up, unless it is a whole number.
        digits = sum(c.isdigit() for c in "".join(tokens))
        if whole is not None and digits >= 8:
            return Rejection(Reason.AMOUNT_MISSING, "number without amount",
                             _served(whole, rules))
        if fixed_only:
            return Rejection(Reason.NUMBER_INVALID, "fix without a number")
        if amount is None:
            return Rejection(Reason.AMOUNT_INVALID, "own top-up amount")
        return OwnTopUp(amount)
    number = _normalize_number(before)
    if amount is None or number is None:
        if whole is not None:
            return Rejection(Reason.AMOUNT_MISSING, "number without amount",
                             _served(whole, rules))
        if number is not None:
            return Rejection(Reason.AMOUNT_INVALID, "amount not understood",
                             _served(number, rules))
        return Rejection(Reason.NUMBER_INVALID, "number not understood")
    checked = _number_rejection(number, rules, fixed_only)
    if isinstance(checked, Rejection):
        return checked
    problem = _amount_check(amount, rules.amount_rule(checked), checked, None)
    if problem is not None:
        return problem
    return TopUp(target=number, operator=checked, amount=amount)


def _product_topup(product: Product, tokens: list[str], rules: Rules) -> Parsed:
    """`<subscriber id> <amount>` after the product name."""
    if not tokens:
        return Rejection(Reason.SUBSCRIBER_MISSING, str(product), product=product)
    amount, before = _take_amount(tokens)
    if len(tokens) == 1 and (amount is None or sum(c.isdigit() for c in tokens[0]) >= 6):
        # One word or a long number after the product: that is the id, the amount is missing.
        return Rejection(Reason.AMOUNT_MISSING, str(product), product=product)
    if amount is None:
        return Rejection(Reason.AMOUNT_INVALID, str(product), product=product)
    if not before:
        return Rejection(Reason.SUBSCRIBER_MISSING, str(product), product=product)
    if len(before) > 1 or not _SUBSCRIBER.fullmatch(before[0]):
        return Rejection(Reason.SUBSCRIBER_INVALID, str(product), product=product)
    problem = _amount_check(amount, rules.product_rule(product), Operator.IPKO_FIXED, product)
    if problem is not None:
        return problem
    return ProductTopUp(product=product, subscriber_id=before[0], amount=amount)


def _card_block(tokens: list[str]) -> Parsed:
    """`BLLOKO 1234`: exactly 4 digits; anything else is explained (never echoed, as it
    may be a whole card number)."""
    if len(tokens) == 1 and _LAST4.fullmatch(tokens[0]):
        return CardBlockRequest(tokens[0])
    digits = sum(c.isdigit() for t in tokens for c in t)
    return Rejection(Reason.CARD_DIGITS, f"{len(tokens)} word(s), {digits} digit(s)")


def parse(text: str, rules: Rules) -> Parsed:
    """The command in an SMS text, or a `Rejection` saying what to fix. Never raises."""
    try:
        return _parse(text, rules)
    except Exception as exc:  # a parser bug must become a help reply, never a lost message
        return Rejection(Reason.UNKNOWN_COMMAND, f"parser error {type(exc).__name__}")


def _parse(text: str, rules: Rules) -> Parsed:
    if text.strip() == "?":
        return HelpQuery()
    tokens = without_courtesy(matching.tokens(text))
    if not tokens:
        return Rejection(Reason.EMPTY)
    folded = [fold(t) for t in tokens]
    phrase = " ".join(folded)
    if phrase in _WORD_COMMANDS:
        return _WORD_COMMANDS[phrase]
    if folded[0] in _BLOCK_WORDS:
        return _card_block(tokens[1:])
    if phrase in _CURRENT_WORDS:
        return BalanceQuery("current")
    if phrase in _SAVINGS_WORDS:
        return BalanceQuery("savings")
    head = folded[0]
    if head in _FIX_WORDS:
        return _phone_topup(tokens[1:], rules, fixed_only=True)
    # `Duo TV`, `Duo FIX` written in two words.
    if head == "duo" and len(folded) > 1 and "duo" + folded[1] in _PRODUCTS:
        return _product_topup(_PRODUCTS["duo" + folded[1]], tokens[2:], rules)
    if head in _PRODUCTS:
        return _product_topup(_PRODUCTS[head], tokens[1:], rules)
    if _NUMERIC_START.match(tokens[0]) or parse_amount(tokens[0]) is not None:
        return _phone_topup(tokens, rules, fixed_only=False)
    if len(tokens) == 3 and _WORD.fullmatch(head) and _take_amount(tokens)[0] is not None:
        return Rejection(Reason.PRODUCT_UNKNOWN, "unknown product word")
    return Rejection(Reason.UNKNOWN_COMMAND)
