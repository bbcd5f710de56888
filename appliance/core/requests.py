"""Requests a customer's SMS makes at the bank (DESIGN §4, §6), as data, and their replies.

`decide` turns `STOP`/`START`, `SQ`/`EN`/`SR` and `BLLOKO 1234` into one of these values; the
flow that owns the bank call commits it with the inbound message, makes the call (retried
while the bank is down) and answers with `request_outcome_text` once it knows the outcome.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from appliance.core import texts
from appliance.core.rules import Language, Rules

__all__ = [
    "AlertsChange",
    "BankRequest",
    "CardBlock",
    "LanguageChange",
    "RequestOutcome",
    "request_kind",
    "request_outcome_text",
]


@dataclass(frozen=True)
class AlertsChange:
    """`PUT /v1/agreements/{agreement_id}/alerts {enabled}`."""

    agreement_id: str
    enabled: bool


@dataclass(frozen=True)
class LanguageChange:
    """`PUT /v1/agreements/{agreement_id}/language {language}`."""

    agreement_id: str
    language: Language


@dataclass(frozen=True)
class CardBlock:
    """`POST /v1/cards/block`: the card of `customer_id` whose number ends in `last4`.
    The idempotency key comes from the inbound message (the caller has it)."""

    agreement_id: str
    customer_id: str
    last4: str


BankRequest = AlertsChange | LanguageChange | CardBlock


class RequestOutcome(StrEnum):
    """How a bank request ended, as far as the customer is told."""

    DONE = "done"
    FAILED = "failed"  # the bank refused, or we gave up retrying
    UNKNOWN_CARD = "unknown_card"  # no such card of this customer (or another's): same reply
    BANK_DOWN = "bank_down"  # not made yet; it is retried and answered when it is


_KEYS: dict[RequestOutcome, str] = {
    RequestOutcome.DONE: "done",
    RequestOutcome.FAILED: "failed",
    RequestOutcome.BANK_DOWN: "pending",
}


def request_kind(request: BankRequest) -> str:
    """A short tag for logs and status: `alerts_off`, `alerts_on`, `language`, `card_block`."""
    if isinstance(request, AlertsChange):
        return "alerts_on" if request.enabled else "alerts_off"
    if isinstance(request, LanguageChange):
        return "language"
    return "card_block"


def request_outcome_text(
    request: BankRequest, outcome: RequestOutcome | str, lang: Language | str, rules: Rules
) -> str:
    """The SMS telling the customer how `request` ended, ready to send.

    A language change answers in the language asked for (the customer just chose it); the
    others in `lang`, the agreement's. An unknown card is answered the same way whether no
    card or another customer's card ends in those digits, so the reply reveals nothing.
    UNKNOWN_CARD for anything but a card block reads as FAILED.
    """
    result = RequestOutcome(outcome)
    if isinstance(request, CardBlock):
        key = "card_unknown" if result is RequestOutcome.UNKNOWN_CARD else (
            "card_blocked" if result is RequestOutcome.DONE else f"card_{_KEYS[result]}")
        return texts.sms(key, lang, rules, last4=request.last4)
    step = _KEYS.get(result, "failed")
    if isinstance(request, LanguageChange):
        return texts.sms(f"language_{step}", request.language, rules)
    if step == "done":
        return texts.sms("alerts_on_done" if request.enabled else "alerts_off_done", lang, rules)
    return texts.sms(f"alerts_{step}", lang, rules)
