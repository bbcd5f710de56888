"""Alert rule and text: which booked movement becomes an SMS, and what it says (DESIGN §4).

Pure: the sync job passes each new movement with its agreement and account; the caller
keeps the unique (movement, phone) key that makes each alert go at most once (I4).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from appliance.core import texts
from appliance.core.money import format_money
from appliance.core.rules import Rules
from appliance.core.views import AccountView, AgreementView, MovementView

__all__ = ["alert_text", "effective_limit", "wants_alert"]


def effective_limit(limit: Decimal, rules: Rules | None) -> Decimal:
    """The limit the box applies: the agreement's own when it is one the bank offers
    (`rules.alert_limits`); an off-list value from the feed is taken down to the highest
    offered limit below it, so that the customer misses no alert they asked for; below
    every offered limit it stays as the bank sent it."""
    if rules is None or not rules.alert_limits or limit in rules.alert_limits:
        return limit
    below = [tier for tier in rules.alert_limits if tier <= limit]
    return max(below) if below else limit


def wants_alert(movement: MovementView, agreement: AgreementView,
                rules: Rules | None = None) -> bool:
    """True when the agreement has the alerts service and |amount| reaches its alert limit
    (as `effective_limit` reads it against the offered limits, when `rules` are given)."""
    return "alerts" in agreement.services and abs(movement.amount) >= effective_limit(
        agreement.alert_limit, rules)


def alert_text(
    movement: MovementView,
    agreement: AgreementView,
    account: AccountView,
    rules: Rules,
    now: datetime | None = None,
) -> str | None:
    """The alert SMS for `movement` in the agreement's language, or None when no alert is due.

    It names the account as `***1234`, the signed amount, the movement's type as a word in
    the customer's language (never the bank's code), the local booking time (just the hour
    when `now` is the same day) and the new balance (the movement's balance after it, else
    the account's balance).
    """
    if not wants_alert(movement, agreement, rules):
        return None
    lang = texts.language_of(agreement.language, rules)
    balance = movement.balance_after if movement.balance_after is not None else account.balance
    kind = texts.movement_type_name(movement.type, lang)
    return texts.fit(
        "alert",
        lang,
        rules,
        "type",
        account=texts.account_label(account.number),
        amount=texts.signed_money(movement.amount, account.currency),
        type=kind,
        time=texts.local_time(movement.booked_at, rules, now),
        balance=format_money(balance, account.currency),
    )
