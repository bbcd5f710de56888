"""Every SMS text the appliance sends, Albanian first and English beside (DESIGN §5).

`TEXTS[key] = (sq, en)`; `render(key, lang, **values)` fills one in, `sms(...)` also
prepares it for GSM-7 (transliteration per `Rules.transliterate`). Values are formatted by
the helpers here: money as `1.234,56 EUR`, accounts as `***1234`, times in Kosovo's zone.
Each template fits one 160-septet segment with worst-case values (tests/test_core_texts.py).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from appliance.core import gsm7
from appliance.core.money import format_amount, format_money
from appliance.core.rules import AmountRule, Language, Operator, Product, Rules

__all__ = [
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
    "product_name",
    "render",
    "service_name",
    "signed_money",
    "sms",
]

TEXTS: dict[str, tuple[str, str]] = {
    # --- help and refusals that carry no account data ---
    "help": (
        "Dërgoni: B për bilancin, BK për kursimin, NUMRI SHUMA për mbushje "
        "(p.sh. {example}), SHUMA për numrin tuaj, TV/Internet/DuoTV/DuoFIX ID SHUMA.",
        "Send: B for balance, BK for savings, NUMBER AMOUNT to top up (e.g. {example}), "
        "AMOUNT for your own number, TV/Internet/DuoTV/DuoFIX ID AMOUNT.",
    ),
    "stranger": (
        "Ky numër nuk ka marrëveshje për shërbimet SMS të bankës. "
        "Për t'u regjistruar, vizitoni një degë të bankës.",
        "This number has no agreement for the bank's SMS services. "
        "To sign up, please visit a branch of the bank.",
    ),
    "service_missing": (
        "Shërbimi SMS {service} nuk është në marrëveshjen tuaj. "
        "Për ta shtuar, vizitoni një degë të bankës.",
        "SMS {service} is not in your agreement. To add it, please visit a branch of the bank.",
    ),
    "multipart_incomplete": (
        "Mesazhi juaj nuk arriti i plotë. Ju lutemi dërgojeni përsëri.",
        "Your message did not arrive complete. Please send it again.",
    ),
    # --- balances ---
    "balance_header_current": ("Bilanci:", "Balance:"),
    "balance_header_savings": ("Bilanci i kursimit:", "Savings balance:"),
    "balance_line": ("{label} {account}: {balance}", "{label} {account}: {balance}"),
    "balance_as_of": ("Gjendja më {time}.", "As of {time}."),
    "balance_bank_down": (
        "Lidhja me bankën mungon tani; gjendja më {time}.",
        "The bank cannot be reached now; balance as of {time}.",
    ),
    "no_account_current": (
        "Nuk keni llogari rrjedhëse në këtë shërbim.",
        "You have no current account in this service.",
    ),
    "no_account_savings": (
        "Nuk keni llogari kursimi në këtë shërbim.",
        "You have no savings account in this service.",
    ),
    # --- what to fix in a request (commands.Reason) ---
    "rej_amount_missing": (
        "Mungon shuma. Shkruani numrin, një hapësirë dhe shumën, p.sh. {example}.",
        "The amount is missing. Write the number, a space and the amount, e.g. {example}.",
    ),
    "rej_amount_missing_product": (
        "Mungon shuma. Shkruani produktin, ID-në dhe shumën, p.sh. {example}.",
        "The amount is missing. Write the product, the ID and the amount, e.g. {example}.",
    ),
    "rej_amount_invalid": (
        "Shuma nuk kuptohet. Shkruani shumën në euro, p.sh. {example_amount}.",
        "The amount is not clear. Write the amount in euros, e.g. {example_amount}.",
    ),
    "rej_amount_not_allowed": (
        "Shuma {amount} nuk lejohet për {target}. Shumat e lejuara: {allowed}.",
        "The amount {amount} is not allowed for {target}. Allowed amounts: {allowed}.",
    ),
    "rej_number_invalid": (
        "Numri i telefonit nuk është i saktë. Shkruani p.sh. {example}.",
        "The phone number is not valid. Write e.g. {example}.",
    ),
    "rej_number_not_fixed": (
        "FIX vlen vetëm për numrat fiks të IPKO (028, 029, 038, 039). "
        "Për celular shkruani: NUMRI SHUMA.",
        "FIX is only for IPKO fixed lines (028, 029, 038, 039). "
        "For a mobile write: NUMBER AMOUNT.",
    ),
    "rej_operator_not_served": (
        "Mbushja nuk ofrohet për numrat e {operator}. Shërbimi vlen vetëm për Vala dhe IPKO.",
        "Top-ups are not offered for {operator} numbers, only for Vala and IPKO.",
    ),
    "rej_operator_unknown": (
        "Nuk e njohim operatorin e këtij numri. Mbushja vlen vetëm për numrat e Vala dhe IPKO.",
        "We do not know this number's operator. Top-ups are only for Vala and IPKO numbers.",
    ),
    "rej_number_foreign": (
        "Mbushja vlen vetëm për numrat e Kosovës (+383) të Vala dhe IPKO.",
        "Top-ups are only for Kosovo (+383) numbers of Vala and IPKO.",
    ),
    "rej_product_unknown": (
        "Produkt i panjohur. Produktet e IPKO: Internet, TV, DuoTV, DuoFIX, "
        "p.sh. {example}.",
        "Unknown product. IPKO products: Internet, TV, DuoTV, DuoFIX, e.g. {example}.",
    ),
    "rej_subscriber_missing": (
        "Mungon emri i përdoruesit ose numri i kartelës. Shkruani p.sh. {example}.",
        "The IPKO username or card number is missing. Write e.g. {example}.",
    ),
    "rej_subscriber_invalid": (
        "Emri i përdoruesit ose numri i kartelës nuk është i saktë. "
        "Shkruani p.sh. {example}.",
        "The IPKO username or card number is not valid. Write e.g. {example}.",
    ),
    # --- top-ups: our own checks, then the bank's answer ---
    "daily_cap": (
        "Keni arritur kufirin ditor të mbushjeve ({count} mbushje ose {amount}). "
        "Provoni përsëri nesër.",
        "You have reached the daily top-up limit ({count} top-ups or {amount}). "
        "Please try again tomorrow.",
    ),
    "bank_down_topup": (
        "Lidhja me bankën nuk është e mundur tani, prandaj mbushja nuk u bë. Provoni më vonë.",
        "The bank cannot be reached now, so the top-up was not made. Please try again later.",
    ),
    "topup_pending": (
        "Kërkesa për mbushje me {amount} për {target} u pranua dhe po kryhet.",
        "Your top-up of {amount} for {target} was accepted and is being processed.",
    ),
    "topup_done": (
        "Mbushja me {amount} për {target} u krye. Bilanci i ri: {balance}.",
        "Top-up of {amount} for {target} done. New balance: {balance}.",
    ),
    "topup_done_no_balance": (
        "Mbushja me {amount} për {target} u krye.",
        "Top-up of {amount} for {target} done.",
    ),
    "topup_rejected_insufficient_funds": (
        "Mbushja me {amount} për {target} nuk u krye: nuk keni mjete të mjaftueshme në llogari.",
        "Top-up of {amount} for {target} not done: insufficient funds in your account.",
    ),
    "topup_rejected_operator_mismatch": (
        "Mbushja me {amount} për {target} nuk u krye: numri ka kaluar te një operator tjetër.",
        "Top-up of {amount} for {target} not done: the number has moved to another operator.",
    ),
    "topup_rejected_limit": (
        "Mbushja me {amount} për {target} nuk u krye: është arritur kufiri i mbushjeve te banka.",
        "Top-up of {amount} for {target} not done: the bank's top-up limit has been reached.",
    ),
    "topup_rejected_unknown": (
        "Mbushja me {amount} për {target} nuk u krye. Për arsyen, ju lutemi kontaktoni bankën.",
        "Top-up of {amount} for {target} not done. Please contact the bank for the reason.",
    ),
    "topup_failed": (
        "Mbushja me {amount} për {target} nuk u krye për një problem teknik. Provoni më vonë.",
        "Top-up of {amount} for {target} failed for a technical problem. Please try later.",
    ),
    # --- alerts ---
    "alert": (
        "Lëvizje në llogarinë {account}: {amount}, {type}, {time}. Bilanci i ri: {balance}.",
        "Movement on account {account}: {amount}, {type}, {time}. New balance: {balance}.",
    ),
}

# Short names inside texts, (sq, en).
_OPERATORS: dict[Operator, tuple[str, str]] = {
    Operator.VALA: ("Vala", "Vala"),
    Operator.IPKO_MOBILE: ("IPKO", "IPKO"),
    Operator.IPKO_FIXED: ("IPKO fiks", "IPKO fixed"),
    Operator.Z_MOBILE: ("Z Mobile", "Z Mobile"),
    Operator.MTS: ("mts", "mts"),
    Operator.FOREIGN: ("operatorëve të huaj", "foreign"),
    Operator.UNKNOWN: ("operatorëve të panjohur", "unknown"),
}
_PRODUCTS: dict[Product, str] = {
    Product.INTERNET: "Internet",
    Product.TV: "TV",
    Product.DUOTV: "DuoTV",
    Product.DUOFIX: "DuoFIX",
}
_SERVICES: dict[str, tuple[str, str]] = {
    "balance": ("bilanci", "balance"),
    "topup": ("mbushje", "top-up"),
    "alerts": ("njoftimi", "notification"),
}
_KINDS: dict[str, tuple[str, str]] = {
    "current": ("Rrjedhëse", "Current"),
    "business": ("Biznes", "Business"),
    "savings": ("Kursim", "Savings"),
}


# The bank's movement type codes (DESIGN §6) as customers read them, (sq, en, sr). The one
# table for alerts and statements; a code not here reads as MOVEMENT_OTHER, never raw.
MOVEMENT_TYPES: dict[str, tuple[str, str, str]] = {
    "card_payment": ("Pagesë me kartë", "Card payment", "Plaćanje karticom"),
    "atm_withdrawal": ("Tërheqje në ATM", "ATM withdrawal", "Podizanje na bankomatu"),
    "transfer_in": ("Transfer hyrës", "Transfer in", "Dolazni prenos"),
    "transfer_out": ("Transfer dalës", "Transfer out", "Odlazni prenos"),
    "salary": ("Pagë", "Salary", "Plata"),
    "fee": ("Tarifë", "Fee", "Naknada"),
    "interest": ("Interes", "Interest", "Kamata"),
    "topup": ("Mbushje", "Top-up", "Dopuna"),
    "refund": ("Rimbursim", "Refund", "Povraćaj"),
    "standing_order": ("Urdhër i përhershëm", "Standing order", "Trajni nalog"),
    "cash_deposit": ("Depozitë në para", "Cash deposit", "Uplata gotovine"),
}
MOVEMENT_OTHER: tuple[str, str, str] = ("Lëvizje", "Movement", "Promena")


def language_of(lang: Language | str | None, rules: Rules | None = None) -> Language:
    """`Language.EN` for anything starting with `en`, else Albanian (or the rules' default)."""
    if lang is None:
        return rules.default_language if rules else Language.SQ
    text = str(lang).strip().lower()
    if text.startswith("en"):
        return Language.EN
    if text.startswith("sq") or text.startswith("al"):
        return Language.SQ
    return rules.default_language if rules else Language.SQ


def _pick(pair: tuple[str, str], lang: Language | str) -> str:
    return pair[1] if language_of(lang) is Language.EN else pair[0]


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
    names = MOVEMENT_TYPES.get(key, MOVEMENT_OTHER)
    return _pick((names[0], names[1]), lang)


def operator_name(operator: Operator, lang: Language | str) -> str:
    """`Vala`, `IPKO`, `IPKO fiks`, `Z Mobile`, `mts`, …"""
    return _pick(_OPERATORS[operator], lang)


def product_name(product: Product) -> str:
    """`Internet`, `TV`, `DuoTV`, `DuoFIX` (the same in both languages)."""
    return _PRODUCTS[product]


def service_name(service: str, lang: Language | str) -> str:
    """The service's name as the bank's page calls it (`bilanci`, `mbushje`, `njoftimi`)."""
    pair = _SERVICES.get(service)
    return _pick(pair, lang) if pair else service


def kind_label(kind: str, lang: Language | str) -> str:
    """`Rrjedhëse`/`Current`, `Biznes`/`Business`, `Kursim`/`Savings`."""
    pair = _KINDS.get(kind)
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
    en = language_of(lang) is Language.EN
    span = f"{short(rule.minimum)} {'to' if en else 'deri'} {short(rule.maximum)} {currency}"
    if rule.step == 1 and rule.minimum == rule.minimum.to_integral_value():
        return span + (", whole euros" if en else ", vetëm euro të plota")
    return span + (f" in steps of {short(rule.step)}" if en else f", me hap {short(rule.step)}")
