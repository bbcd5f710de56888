"""The mini statement (`L`/`Levizjet`/`MINI`, DESIGN §4): the last 5 movements of the
agreement's accounts, newest first, from the local database. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.core import texts
from appliance.core.rules import Language, Rules
from appliance.core.views import AccountView, MovementView

__all__ = ["STATEMENT_SIZE", "last_movements", "statement_text"]

STATEMENT_SIZE = 5


def last_movements(
    accounts: Iterable[AccountView], movements: Iterable[MovementView], n: int = STATEMENT_SIZE
) -> list[MovementView]:
    """The `n` newest movements of `accounts` only (anything else is dropped, whoever
    passed it), newest first; ties by the bank's id, so the order is stable."""
    ids = {a.id for a in accounts}
    own = [m for m in movements if m.account_id in ids]
    own.sort(key=lambda m: (m.booked_at, m.id), reverse=True)
    return own[:n]


def _date(moment: datetime, now: datetime, rules: Rules) -> str:
    """`27.11` this year, `27.11.25` before (local dates: a statement line is short)."""
    zone = ZoneInfo(rules.timezone)
    local = moment.astimezone(zone)
    same_year = local.year == now.astimezone(zone).year
    return local.strftime("%d.%m" if same_year else "%d.%m.%y")


def statement_text(
    accounts: tuple[AccountView, ...],
    movements: Iterable[MovementView],
    now: datetime,
    rules: Rules,
    lang: Language | str,
    *,
    as_of: datetime | None = None,
    bank_reachable: bool = True,
) -> tuple[str, ...]:
    """The statement's replies, ready to send, in as few one-segment SMS as the lines allow.

    Each line: local date, signed amount as the bank writes it (`-45,20 EUR`), the type as a
    word (`core.texts.movement_type_name`) and the account as `***1234`. `as_of` (when the
    local data was last synced) is added when older than `rules.stale_after_seconds` or
    when the bank cannot be reached.
    """
    by_id = {a.id: a for a in accounts}
    chosen = last_movements(accounts, movements)
    if not chosen:
        lines = [texts.render("statement_empty", lang)]
    else:
        lines = [texts.render("statement_header", lang)]
        for m in chosen:
            account = by_id[m.account_id]
            lines.append(texts.render(
                "statement_line", lang,
                date=_date(m.booked_at, now, rules),
                amount=texts.signed_money(m.amount, account.currency),
                type=texts.movement_type_name(m.type, lang),
                account=texts.account_label(account.number),
            ))
    stale = as_of is not None and now - as_of > timedelta(seconds=rules.stale_after_seconds)
    if as_of is not None and (stale or not bank_reachable):
        lines.append(texts.render("balance_as_of", lang, time=texts.local_time(as_of, rules, now)))
    return texts.pack(lines, rules)
