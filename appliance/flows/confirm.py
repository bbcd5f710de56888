"""Confirmation codes for larger top-ups (DESIGN §2 I9, §4), inside the inbound decision.

A top-up of `confirm_from` € or more is not ordered: a fresh code (`secrets`, drawn here,
never in the core, never logged) goes back to the agreement's own phone and the request
waits in `topup_confirmation`, committed with the request's inbound mark and before its
reply can be sent (one transaction, I2). The same phone's exact code, in time, turns it
into a `pending` order with the request's idempotency key, committed with the code
message's mark, so a crash neither loses it nor lets a code place two orders.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from appliance.core import guards
from appliance.core import texts as core_texts
from appliance.core.rules import Rules
from appliance.core.views import OrderIntent, SenderView
from appliance.store import confirmations as store


def code_digest(code: str, salt: str) -> str:
    """The stored form of a code: a salted digest, so the database never holds the code."""
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def ask_for_code(order: OrderIntent, view: SenderView, *, inbound_id: int,
                 idempotency_key: str, now: datetime, rules: Rules) -> str:
    """Store `order` as waiting for a new code (replacing any earlier); the reply to send."""
    code = str(1000 + secrets.randbelow(9000))
    salt = secrets.token_hex(8)
    store.create_confirmation(
        agreement_id=view.agreement.id, inbound_id=inbound_id,
        idempotency_key=idempotency_key, target=order.target, operator=str(order.operator),
        product=str(order.product) if order.product is not None else None,
        subscriber_id=order.subscriber_id, amount=order.amount,
        digest=code_digest(code, salt), salt=salt,
        expires_at=guards.expiry(now, rules), now=now,
    )
    return guards.ask_text(code, order, core_texts.language_of(view.agreement.language, rules),
                           rules)


def replace_waiting(view: SenderView, now: datetime) -> None:
    """A new top-up without a code replaces the agreement's top-up waiting for one."""
    row = store.awaiting_confirmation(view.agreement.id)
    if row is not None:
        store.close_confirmation(int(row.id), "replaced", now)


def is_code_for(text: str, view: SenderView) -> bool:
    """Whether `text` is a code while the agreement has a top-up waiting for one."""
    return (guards.code_in(text) is not None
            and store.awaiting_confirmation(view.agreement.id) is not None)


def answer_code(text: str, view: SenderView, now: datetime,
                rules: Rules) -> tuple[tuple[str, ...], str, int] | None:
    """(replies, outcome, orders) when `text` is a code for the agreement's waiting
    top-up; None when it is not one (then it is decided as any other message)."""
    code = guards.code_in(text)
    if code is None:
        return None
    row = store.awaiting_confirmation(view.agreement.id)
    if row is None:
        return None
    matches = hmac.compare_digest(code_digest(code, str(row.code_salt)), str(row.code_digest))
    verdict = guards.judge_code(matches, guards.PendingCode(row.expires_at, int(row.tries)),
                                now)
    lang = core_texts.language_of(view.agreement.language, rules)
    if verdict is guards.CodeVerdict.CONFIRMED:
        placed = store.confirm(row, now)
        return (), "code:confirmed", int(placed)
    if verdict is guards.CodeVerdict.WRONG:
        store.note_wrong_code(int(row.id), now)
    else:
        store.close_confirmation(int(row.id), str(verdict), now)
    return (guards.verdict_text(verdict, lang, rules),), f"code:{verdict}", 0
