"""Top-up orders (I3): created with the decision, claimed, postponed, finished; today's
count and sum for the daily cap; the bank's balance after a done order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import peewee

from appliance.store.fields import to_decimal
from appliance.store.models import (
    Account,
    Agreement,
    TopupOrder,
)

# Orders that count against the daily cap: everything not refused or failed.
CAP_COUNTED_STATES: tuple[str, ...] = ("pending", "submitted", "done")


def topups_since(agreement_id: str, since: datetime) -> tuple[int, Decimal]:
    """Count and sum of the agreement's top-ups since `since` that count against the cap."""
    rows = TopupOrder.select(TopupOrder.amount).where(
        (TopupOrder.agreement == agreement_id)
        & (TopupOrder.created_at >= since)
        & TopupOrder.state.in_(CAP_COUNTED_STATES)
    )
    amounts = [to_decimal(r.amount) for r in rows]
    return len(amounts), sum(amounts, Decimal(0))


def due_topup_ids(states: Sequence[str], now: datetime, limit: int) -> list[int]:
    """Ids of orders in one of `states` that are due at `now` (no `next_attempt_at`, or
    one not after `now`), oldest id first, at most `limit`."""
    rows = (
        TopupOrder.select(TopupOrder.id)
        .where(
            TopupOrder.state.in_(list(states))
            & (TopupOrder.next_attempt_at.is_null() | (TopupOrder.next_attempt_at <= now))
        )
        .order_by(TopupOrder.id)
        .limit(limit)
    )
    return [int(row.id) for row in rows]


def due_failed_topup_ids(reason: str, now: datetime, limit: int) -> list[int]:
    """Ids of `failed` orders with exactly this `reason` that are due at `now`, oldest id
    first, at most `limit` (orders whose outcome is still to be resolved with the bank)."""
    rows = (
        TopupOrder.select(TopupOrder.id)
        .where(
            (TopupOrder.state == "failed") & (TopupOrder.reason == reason)
            & (TopupOrder.next_attempt_at.is_null() | (TopupOrder.next_attempt_at <= now))
        )
        .order_by(TopupOrder.id)
        .limit(limit)
    )
    return [int(row.id) for row in rows]


def topup_order(order_id: int) -> TopupOrder:
    """The order `order_id` (raises `TopupOrder.DoesNotExist` when absent)."""
    row: TopupOrder = TopupOrder.get_by_id(order_id)
    return row


def topup_order_in(order_id: int, states: Sequence[str]) -> TopupOrder | None:
    """The order `order_id` while it is in one of `states`, else None."""
    row: TopupOrder | None = TopupOrder.get_or_none(
        (TopupOrder.id == order_id) & TopupOrder.state.in_(list(states)))
    return row


def claim_topup_order(order_id: int, states: Sequence[str], now: datetime) -> TopupOrder | None:
    """One of `states` → `submitted`, one attempt more; the claimed row, or None when the
    order is no longer in `states`. Run it inside the caller's write transaction."""
    claimed = (
        TopupOrder.update(state="submitted", attempts=TopupOrder.attempts + 1, updated_at=now)
        .where((TopupOrder.id == order_id) & TopupOrder.state.in_(list(states)))
        .execute()
    )
    if not claimed:
        return None
    row: TopupOrder = TopupOrder.get_by_id(order_id)
    return row


def postpone_topup(order_id: int, next_attempt_at: datetime, now: datetime, *,
                   attempts: int | None = None, states: Sequence[str] | None = None) -> int:
    """Make the order due again at `next_attempt_at` (and set its `attempts`, when given),
    only while in one of `states` when given; returns rows changed."""
    values: dict[str, Any] = {"next_attempt_at": next_attempt_at, "updated_at": now}
    if attempts is not None:
        values = {"attempts": attempts, **values}
    which = TopupOrder.id == order_id
    if states is not None:
        which &= TopupOrder.state.in_(list(states))
    return int(TopupOrder.update(**values).where(which).execute())


def finish_topup(
    order_id: int, *, state: str, reason: str | None, bank_id: str | None,
    balance_after: Decimal | None, next_attempt_at: datetime | None, now: datetime,
    states: Sequence[str] = (), failed_reason: str | None = None,
) -> int:
    """Record an order's outcome; returns rows changed (0: someone else finished it).

    Guarded: the order must be in one of `states`, or, with `failed_reason`, `failed`
    with exactly that reason. Run it inside the caller's write transaction, with the
    customer's reply.
    """
    values: dict[str, Any] = {
        "state": state, "reason": reason, "balance_after": balance_after, "bank_id": bank_id,
        "next_attempt_at": next_attempt_at, "updated_at": now,
    }
    return int(TopupOrder.update(**values).where(
        _topup_guard(order_id, states, failed_reason)).execute())


def note_topup_not_done(order_id: int, failed_reason: str, reason: str,
                        bank_id: str | None, now: datetime) -> int:
    """A `failed` order with `failed_reason` that the bank confirms was not done: its
    reason becomes `reason` and it is no longer due; returns rows changed."""
    return int(TopupOrder.update(
        reason=reason, bank_id=bank_id, next_attempt_at=None, updated_at=now,
    ).where(_topup_guard(order_id, (), failed_reason)).execute())


def _topup_guard(order_id: int, states: Sequence[str], failed_reason: str | None) -> Any:
    if failed_reason is not None:
        return (TopupOrder.id == order_id) & (TopupOrder.state == "failed") & (
            TopupOrder.reason == failed_reason)
    return (TopupOrder.id == order_id) & TopupOrder.state.in_(list(states))


def apply_topup_balance(agreement_id: str, balance: Decimal, as_of: datetime) -> int:
    """Set the bank's `balance_after` of a done top-up on the account the bank debited, as
    of `as_of` (when the bank's answer came); returns rows changed.

    The debited account is the contract's (docs/bank-api.md): the customer's current
    account, else their business account. An account already known as of a later time
    keeps its newer balance, and a sync page older than `as_of` cannot move this one back
    (the sync's upsert only moves `as_of` forward). Run it inside the caller's write
    transaction, with the order's outcome.
    """
    agreement: Agreement | None = Agreement.get_or_none(Agreement.id == agreement_id)
    if agreement is None:
        return 0
    debited: Account | None = (
        Account.select()
        .where((Account.customer == agreement.customer_id)
               & Account.kind.in_(("current", "business")))
        .order_by(peewee.Case(Account.kind, (("current", 0),), 1), Account.id)
        .first()
    )
    if debited is None:
        return 0
    return int(Account.update(balance=balance, as_of=as_of).where(
        (Account.id == debited.id) & (Account.as_of <= as_of)).execute())


def agreement_by_id(agreement_id: str) -> Agreement:
    """The agreement row `agreement_id` (raises `Agreement.DoesNotExist` when absent)."""
    row: Agreement = Agreement.get_by_id(agreement_id)
    return row


def create_topup_order(
    *, idempotency_key: str, agreement_id: str, inbound_id: int, target: str, operator: str,
    product: str | None, subscriber_id: str | None, amount: Decimal, now: datetime,
) -> None:
    """Insert a `pending` top-up order; a second one with the same key is a no-op (I3).

    Run it inside the caller's write transaction, with the inbound decision (I2).
    """
    TopupOrder.insert(
        idempotency_key=idempotency_key,
        agreement=agreement_id,
        inbound=inbound_id,
        target=target,
        operator=operator,
        product=product,
        subscriber_id=subscriber_id,
        amount=amount,
        created_at=now,
        updated_at=now,
    ).on_conflict_ignore().execute()
