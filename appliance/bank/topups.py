"""Submitting top-up orders to the bank, at most one debit each (DESIGN §2 I3, §3).

For each due order (`pending`, or `submitted` by a run that crashed or could not reach the
bank): mark it `submitted` (committed), call the bank with the order's idempotency key,
then commit in ONE transaction the outcome (`done`/`rejected`, reason, balance) and the
customer's reply (unique key `topup:<order id>`). A crash anywhere in between leaves the
order `submitted`; the next run calls the bank again with the same key and gets the first
answer back, so money moves at most once and the customer gets exactly one reply.

While the bank is unreachable an order is retried with backoff (same key) for
`hold_seconds` after it was created, or `max_attempts` runs; then it is `failed` and the
customer is told to try later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from appliance.bank.client import (
    BankAuthError,
    BankClient,
    BankError,
    BankRejected,
    TopupResult,
)
from appliance.core.decide import topup_outcome_text
from appliance.core.rules import Rules
from appliance.store.db import write_transaction
from appliance.store.models import PRIORITY_TOPUP_RESULT, Agreement, OutboxMessage, TopupOrder

log = logging.getLogger(__name__)

DUE_STATES: tuple[str, ...] = ("pending", "submitted")
FAILED_REASON_UNAVAILABLE = "bank_unavailable"
MAX_RETRY_DELAY = timedelta(minutes=5)


def reply_key(order_id: int) -> str:
    """The outbox dedupe key of an order's reply: one reply per order."""
    return f"topup:{order_id}"


def submit_pending(
    client: BankClient,
    rules: Rules,
    now: datetime,
    *,
    hold_seconds: float = 0.0,
    max_attempts: int = 5,
    retry_after: float = 15.0,
    limit: int = 50,
) -> int:
    """Submit every due order to the bank; return how many reached a final state."""
    due = (
        TopupOrder.select(TopupOrder.id)
        .where(
            TopupOrder.state.in_(DUE_STATES)
            & (TopupOrder.next_attempt_at.is_null() | (TopupOrder.next_attempt_at <= now))
        )
        .order_by(TopupOrder.id)
        .limit(limit)
    )
    finished = 0
    for order_id in [int(row.id) for row in due]:
        if _submit_one(order_id, client, rules, now, hold_seconds=hold_seconds,
                       max_attempts=max_attempts, retry_after=retry_after):
            finished += 1
    return finished


def _submit_one(
    order_id: int, client: BankClient, rules: Rules, now: datetime, *,
    hold_seconds: float, max_attempts: int, retry_after: float,
) -> bool:
    with write_transaction():
        claimed = (
            TopupOrder.update(state="submitted", attempts=TopupOrder.attempts + 1,
                              updated_at=now)
            .where((TopupOrder.id == order_id) & TopupOrder.state.in_(DUE_STATES))
            .execute()
        )
        if not claimed:
            return False  # finished meanwhile by another run
        order: TopupOrder = TopupOrder.get_by_id(order_id)
    product = order.product
    try:
        result = client.topup(
            str(order.idempotency_key),
            None if product else str(order.target),
            str(order.operator),
            order.amount,
            product=None if product is None else str(product),
            subscriber_id=None if product is None else str(order.subscriber_id or order.target),
            agreement_id=str(order.agreement_id),
        )
    except BankRejected as exc:
        # A 4xx: our request is wrong (or its key was reused with another body). Sending it
        # again would fail the same way; give up loudly.
        log.error("top-up order %d refused by the bank: %s %s", order_id, exc.status, exc.code)
        return _finish(order, rules, now, state="failed", reason=f"bank_{exc.code}")
    except BankError as exc:
        # Unreachable, 5xx, a broken answer or a token problem: the bank may or may not
        # have debited. Only the same key may be sent again.
        level = logging.ERROR if isinstance(exc, BankAuthError) else logging.WARNING
        log.log(level, "top-up order %d: bank unavailable: %s", order_id, exc)
        return _retry_or_fail(order, rules, now, hold_seconds=hold_seconds,
                              max_attempts=max_attempts, retry_after=retry_after)
    return _finish(order, rules, now, result=result)


def _retry_or_fail(
    order: TopupOrder, rules: Rules, now: datetime, *,
    hold_seconds: float, max_attempts: int, retry_after: float,
) -> bool:
    held = (now - order.created_at).total_seconds()
    if held >= hold_seconds or int(order.attempts) >= max_attempts:
        return _finish(order, rules, now, state="failed", reason=FAILED_REASON_UNAVAILABLE)
    delay = min(timedelta(seconds=retry_after * 2 ** (int(order.attempts) - 1)),
                MAX_RETRY_DELAY)
    with write_transaction():
        TopupOrder.update(next_attempt_at=now + delay, updated_at=now).where(
            (TopupOrder.id == order.id) & (TopupOrder.state == "submitted")
        ).execute()
    return False


def _finish(
    order: TopupOrder, rules: Rules, now: datetime, *, result: TopupResult | None = None,
    state: str | None = None, reason: str | None = None,
) -> bool:
    """Commit the order's final state and the customer's reply together (one transaction)."""
    if result is not None:
        state = "done" if result.done else "rejected"
        reason = result.reason
    assert state is not None
    balance_after: Decimal | None = result.balance_after if result is not None else None
    with write_transaction():
        changed = (
            TopupOrder.update(
                state=state, reason=reason, balance_after=balance_after,
                bank_id=None if result is None else result.id,
                next_attempt_at=None, updated_at=now,
            )
            .where((TopupOrder.id == order.id) & TopupOrder.state.in_(DUE_STATES))
            .execute()
        )
        if not changed:
            return False
        agreement: Agreement = Agreement.get_by_id(order.agreement_id)
        shown_target = str(order.subscriber_id or order.target) if order.product else str(
            order.target)
        text = topup_outcome_text(
            state, reason, order.amount, shown_target, balance_after,
            str(agreement.language), rules,
        )
        OutboxMessage.insert(
            to=agreement.phone, text=text, kind="topup_result", priority=PRIORITY_TOPUP_RESULT,
            state="queued", dedupe_key=reply_key(int(order.id)), inbound=order.inbound_id,
            created_at=now,
        ).on_conflict_ignore().execute()
    log.info("top-up order %d: %s%s", order.id, state, f" ({reason})" if reason else "")
    return True
