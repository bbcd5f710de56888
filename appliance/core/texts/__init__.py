"""Every SMS text the appliance sends: Albanian, English and Serbian (DESIGN §5).

The templates are `catalog.TEXTS[key] = (sq, en, sr)`, the names inside them `labels`;
`render(key, lang, **values)` fills one in, `sms(...)` also prepares it for GSM-7
(transliteration per `Rules.transliterate`: ë ç č ć š ž đ). Values are formatted by the
helpers here: money as `1.234,56 EUR`, accounts as `***1234`, times in Kosovo's zone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from appliance.core import gsm7
from appliance.core.money import format_amount, format_money
from appliance.core.rules import AmountRule, Language, Operator, Product, Rules, language_from
from appliance.core.texts.catalog import TEXTS
from appliance.core.texts.labels import (
    KINDS,
    MOVEMENT_OTHER,
    MOVEMENT_TYPES,
    OPERATORS,
    PRODUCTS,
    SERVICES,
    SPAN_WORDS,
)

__all__ = [
    "LANGUAGES",
    "MOVEMENT_TYPES",
    "TEXTS",
    "account_label",
    "allowed_amounts",
    "fit",
    "kind_label",
    "language_of",
    "local_time",
    "movement_type_name",
    "operator_name",
    "pack",
    "product_name",
    "render",
    "service_name",
    "signed_money",
    "sms",
]

LANGUAGES: tuple[Language, ...] = (Language.SQ, Language.EN, Language.SR)  # catalog order


def language_of(lang: Language | str | None, rules: Rules | None = None) -> Language:
    """The language `lang` names (`sq`, `en`, `sr`, `sr-Latn`, `EN`, …), else the rules'
    default (Albanian without rules)."""
    default = rules.default_language if rules else Language.SQ
    return language_from(lang, default)


def _pick(names: tuple[str, str, str], lang: Language | str) -> str:
    return names[LANGUAGES.index(language_of(lang))]


def render(key: str, lang: Language | str, **values: object) -> str:
    """The text `key` in `lang` with `values` filled in (not yet prepared for GSM-7)."""
    return _pick(TEXTS[key], lang).format(**values)


def sms(key: str, lang: Language | str, rules: Rules, **values: object) -> str:
    """`render` then `gsm7.prepare`: the text exactly as it is to be sent."""
    return gsm7.prepare(render(key, lang, **values), rules)


def fit(key: str, lang: Language | str, rules: Rules, shrink: str, **values: object) -> str:
    """`sms(...)`, shortening the free-text value `shrink` (a bank's movement type, a
    subscriber id) with `...` until the text fits one segment; other values stay whole."""
    text = sms(key, lang, rules, **values)
    value = str(values[shrink])
    while gsm7.segment_count(text) > 1 and len(value) > 4:
        value = value[: len(value) - 4].rstrip() + "..."
        text = sms(key, lang, rules, **{**values, shrink: value})
    return text


def movement_type_name(code: str, lang: Language | str) -> str:
    """The word for the bank's type `code` (`card_payment` → `Pagesë me kartë`), matched
    without regard to case, blanks or dashes; an unknown code gets a neutral word."""
    key = "_".join(code.casefold().replace("-", " ").split())
    return _pick(MOVEMENT_TYPES.get(key, MOVEMENT_OTHER), lang)


def pack(lines: list[str], rules: Rules) -> tuple[str, ...]:
    """Lines joined by newlines into as few replies as possible, each one segment long
    (a single line longer than a segment stays one reply of its own), ready to send."""
    replies: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if current and gsm7.segment_count(gsm7.prepare(candidate, rules)) > 1:
            replies.append(current)
            current = line
        else:
            current = candidate
    if current:
        replies.append(current)
    return tuple(gsm7.prepare(r, rules) for r in replies)


def operator_name(operator: Operator, lang: Language | str) -> str:
    """`Vala`, `IPKO`, `IPKO fiks`, `Z Mobile`, `mts`, …"""
    return _pick(OPERATORS[operator], lang)


def product_name(product: Product) -> str:
    """`Internet`, `TV`, `DuoTV`, `DuoFIX` (the same in every language)."""
    return PRODUCTS[product]


def service_name(service: str, lang: Language | str) -> str:
    """The service's name as the bank's page calls it (`bilanci`, `mbushje`, `njoftimi`)."""
    pair = SERVICES.get(service)
    return _pick(pair, lang) if pair else service


def kind_label(kind: str, lang: Language | str) -> str:
    """`Rrjedhëse`/`Current`, `Biznes`/`Business`, `Kursim`/`Savings`."""
    pair = KINDS.get(kind)
    return _pick(pair, lang) if pair else kind


def account_label(number: str) -> str:
    """An account as replies show it: `***1234`, only the last four digits."""
    digits = [c for c in number if c.isascii() and c.isdigit()]
    return "***" + "".join(digits[-4:])


def signed_money(amount: Decimal, currency: str = "EUR") -> str:
    """`+1.234,56 EUR` for money in, `-1.234,56 EUR` for money out."""
    text = format_money(amount, currency)
    return text if amount < 0 else "+" + text


def local_time(moment: datetime, rules: Rules, now: datetime | None = None) -> str:
    """`27.11.2026 14:05` in Kosovo's zone; just `14:05` when `now` is the same local day."""
    zone = ZoneInfo(rules.timezone)
    local = moment.astimezone(zone)
    if now is not None and now.astimezone(zone).date() == local.date():
        return local.strftime("%H:%M")
    return local.strftime("%d.%m.%Y %H:%M")


def allowed_amounts(rule: AmountRule, lang: Language | str, currency: str = "EUR") -> str:
    """`1, 2, 3, 5, 10, 20, 40 EUR` or `1 deri 50 EUR, vetëm euro të plota`."""

    def short(d: Decimal) -> str:
        return str(int(d)) if d == d.to_integral_value() else format_amount(d)

    if rule.allowed:
        return ", ".join(short(a) for a in rule.allowed) + f" {currency}"
    to, whole, steps = (_pick(words, lang) for words in SPAN_WORDS)
    span = f"{short(rule.minimum)} {to} {short(rule.maximum)} {currency}"
    if rule.step == 1 and rule.minimum == rule.minimum.to_integral_value():
        return span + whole
    return span + steps.format(step=short(rule.step))
