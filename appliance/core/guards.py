"""Guards on money that a forged sender address cannot pass (DESIGN §2 I9, §4): pure rules.

A top-up of `confirm_from` € or more waits for a one-time code sent back to the agreement's
phone. The code itself is drawn by the caller (`secrets`), never here; the core only says
whether a top-up needs one, what the pending one's answer is, and renders the replies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from appliance.core import phones, texts
from appliance.core.money import format_money
from appliance.core.rules import Language, Rules
from appliance.core.views import OrderIntent

CODE_TRIES = 3  # the third wrong code cancels (PSD2 RTS allows at most 5)
_CODE = re.compile(r"\s*(\d{4})\s*")


class CodeVerdict(StrEnum):
    CONFIRMED = "confirmed"
    WRONG = "wrong"
    CANCELLED = "cancelled"  # the last allowed try was wrong
    EXPIRED = "expired"


@dataclass(frozen=True)
class PendingCode:
    """A top-up waiting for its code: its expiry and the wrong tries so far."""

    expires_at: datetime
    tries: int = 0


class Hold(StrEnum):
    """Why a money command is refused whoever sent it."""

    SMSC = "smsc"  # it came through a service centre the modem does not trust
    SIM_SWAP = "sim_swap"  # the SIM behind the phone changed lately


def smsc_trusted(smsc: str | None, allow: frozenset[str]) -> bool:
    """Whether a message through `smsc` may move money (`allow` empty: every one may)."""
    if not allow:
        return True
    digits = "".join(c for c in smsc or "" if c.isdigit())
    return bool(digits) and digits in {"".join(c for c in a if c.isdigit()) for a in allow}


def sim_hold_until(sim_changed_at: datetime | None, rules: Rules) -> datetime | None:
    """Until when a phone whose SIM changed at `sim_changed_at` moves no money."""
    if sim_changed_at is None or rules.sim_hold_hours <= 0:
        return None
    return sim_changed_at + timedelta(hours=rules.sim_hold_hours)


def money_hold(*, smsc_ok: bool, sim_changed_at: datetime | None, now: datetime,
               rules: Rules) -> Hold | None:
    """Why a money command (top-up, product, code) must be refused now, or None."""
    if not smsc_ok:
        return Hold.SMSC
    until = sim_hold_until(sim_changed_at, rules)
    if until is not None and now < until:
        return Hold.SIM_SWAP
    return None


def hold_text(hold: Hold, lang: Language | str, rules: Rules) -> str:
    """The refusal of a money command under `hold` (no account data)."""
    return texts.sms(f"hold_{hold}", lang, rules, hours=rules.sim_hold_hours)


@dataclass(frozen=True)
class RateLimit:
    """At most `per_minute` messages a minute and `per_hour` an hour from one phone (0: no
    limit for that window)."""

    per_minute: int = 10
    per_hour: int = 60


def rate_windows(received_at: datetime) -> tuple[tuple[str, datetime], tuple[str, datetime]]:
    """The minute and hour windows (name, start) a message received at `received_at` is in."""
    minute = received_at.replace(second=0, microsecond=0)
    return ("minute", minute), ("hour", minute.replace(minute=0))


def rate_exceeded(in_minute: int, in_hour: int, limit: RateLimit) -> str | None:
    """The window ('minute' or 'hour') whose limit the n-th message of a phone in it goes
    over (counts include that message), or None. The hour goes first: a phone over it gets
    that hour's one notice and no more (minute first gave a flood one more each minute)."""
    if limit.per_hour and in_hour > limit.per_hour:
        return "hour"
    if limit.per_minute and in_minute > limit.per_minute:
        return "minute"
    return None


def needs_code(amount: Decimal, rules: Rules) -> bool:
    """Whether a top-up of `amount` waits for a confirmation code."""
    return rules.confirm_from > 0 and amount >= rules.confirm_from


def code_in(text: str) -> str | None:
    """The 4 digits of a message that is exactly a code (blanks around allowed), else None."""
    m = _CODE.fullmatch(text)
    return m.group(1) if m else None


def expiry(now: datetime, rules: Rules) -> datetime:
    """When a code drawn at `now` stops being valid."""
    return now + timedelta(seconds=rules.confirm_seconds)


def judge_code(matches: bool, pending: PendingCode, now: datetime) -> CodeVerdict:
    """The answer at `now` to a code sent for `pending` (`matches`: it is that code; the
    caller compares digests, the core does no hashing)."""
    if now >= pending.expires_at:
        return CodeVerdict.EXPIRED
    if matches:
        return CodeVerdict.CONFIRMED
    if pending.tries + 1 >= CODE_TRIES:
        return CodeVerdict.CANCELLED
    return CodeVerdict.WRONG


def ask_text(code: str, order: OrderIntent, lang: Language | str, rules: Rules) -> str:
    """The reply asking for the code: amount, target and the code, one segment."""
    minutes = max(1, rules.confirm_seconds // 60)
    if order.product is not None:
        target = f"{texts.product_name(order.product)} {order.target}"
    elif phones.nsn_of(order.target):
        target = phones.national(order.target)
    else:
        target = order.target
    return texts.fit("confirm_ask", lang, rules, "target", amount=format_money(order.amount),
                     target=target, code=code, minutes=minutes)


def verdict_text(verdict: CodeVerdict, lang: Language | str, rules: Rules) -> str:
    """The reply to a wrong, last-wrong or late code (a confirmed one is answered by the
    bank's outcome)."""
    left = CODE_TRIES - 1
    return texts.sms(f"confirm_{verdict}", lang, rules, tries=left)
