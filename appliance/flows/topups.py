"""Submitting top-up orders to the bank, at most one debit each (DESIGN §2 I3, §3).

For each due order (`pending`, or `submitted` by a run that crashed or could not reach the
bank): mark it `submitted` (committed), call the bank with the order's idempotency key,
then commit in ONE transaction the outcome (`done`/`rejected`, reason, balance) and the
customer's reply (unique key `topup:<order id>`). A crash anywhere in between leaves the
order `submitted`; the next run calls the bank again with the same key and gets the first
answer back, so money moves at most once and the customer gets exactly one reply.

While the bank is unreachable an order is retried with backoff (same key) for
`hold_seconds` after it was created, or `max_attempts` runs; then it is `failed` (reason
`bank_unavailable`) and the customer is told to try later. Such an order's outcome is
unknown (the bank may have debited before the line went quiet), so once the bank answers
again it is *resolved* (`POST /v1/topups/{key}/resolve`, which also fences a key the bank
never received): done after all → the order becomes `done` and the customer gets the
outcome (reply key `topup:<id>:late`); otherwise its reason records that no money moved
(`bank_unavailable:not_received`, ...).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from appliance.core.decide import topup_outcome_text
from appliance.core.rules import Rules
from appliance.flows import tally
from appliance.flows.ports import BankDown, BankRefused, Clock, TopupAnswer, TopupBank
from appliance.store import topups as queries
from appliance.store.db import write_transaction
from appliance.store.models import Agreement, TopupOrder
from appliance.store.outbox import queue_topup_reply

log = logging.getLogger(__name__)

DUE_STATES: tuple[str, ...] = ("pending", "submitted")
FAILED_REASON_UNAVAILABLE = "bank_unavailable"


def reply_key(order_id: int) -> str:
    """The outbox dedupe key of an order's reply: one reply per order."""
    return f"topup:{order_id}"


def submit_pending(
    client: TopupBank,
    rules: Rules,
    now: datetime,
    *,
    hold_seconds: float = 0.0,
    max_attempts: int,
    retry_after: float,
    retry_max: float,
    limit: int = 50,
    clock: Clock | None = None,
) -> int:
    """Submit every due order to the bank; return how many reached a final state.

    `clock` tells when each answer came (the time a done order's balance is as of);
    without it, `now`.
    """
    answered_at = clock or (lambda: now)
    due = queries.due_topup_ids(DUE_STATES, now, limit)
    finished = 0
    bank_down = False
    for order_id in due:
        if bank_down:
            # Found unreachable in this very run (after the client's own retries): the
            # other orders wait or fail without another round of retries each.
            order: TopupOrder | None = queries.topup_order_in(order_id, DUE_STATES)
            if order is not None and _retry_or_fail(
                order, rules, now, hold_seconds=hold_seconds, max_attempts=max_attempts,
                retry_after=retry_after, retry_max=retry_max,
            ):
                finished += 1
            continue
        done, bank_down = _submit_one(order_id, client, rules, now, hold_seconds=hold_seconds,
                                      max_attempts=max_attempts, retry_after=retry_after,
                                      retry_max=retry_max, answered_at=answered_at)
        finished += done
    if bank_down:
        return finished
    return finished + resolve_unknown(client, rules, now, retry_after=retry_after,
                                      retry_max=retry_max, limit=limit)


def resolve_unknown(
    client: TopupBank, rules: Rules, now: datetime, *, retry_after: float,
    retry_max: float, limit: int = 50,
) -> int:
    """Resolve orders failed while the bank was unreachable; return how many turned out
    done (each gets its late reply). Stops at the first bank error (still down)."""
    candidates = queries.due_failed_topup_ids(FAILED_REASON_UNAVAILABLE, now, limit)
    done = 0
    for order_id in candidates:
        order: TopupOrder = queries.topup_order(order_id)
        try:
            result = client.resolve_topup(str(order.idempotency_key))
        except BankDown as exc:
            attempts = int(order.attempts) + 1
            delay = timedelta(seconds=min(retry_after * 2 ** (attempts - 1), retry_max))
            with write_transaction():
                queries.postpone_topup(order_id, now + delay, now, attempts=attempts)
            log.info("top-up order %d still unresolved: %s", order_id, exc)
            break
        if _settle_unknown(order, result, rules, now):
            done += 1
    return done


def _settle_unknown(order: TopupOrder, result: TopupAnswer, rules: Rules, now: datetime) -> bool:
    with write_transaction():
        if not result.done:
            queries.note_topup_not_done(
                int(order.id), FAILED_REASON_UNAVAILABLE,
                f"{FAILED_REASON_UNAVAILABLE}:{result.reason or 'rejected'}", result.id, now)
            log.info("top-up order %d: confirmed not done (%s)", order.id, result.reason)
            return False
        changed = queries.finish_topup(
            int(order.id), state="done", reason=None, bank_id=result.id,
            balance_after=result.balance_after, next_attempt_at=None, now=now,
            failed_reason=FAILED_REASON_UNAVAILABLE)
        if not changed:
            return False
        _queue_reply(order, "done", None, result.balance_after, rules=rules, now=now,
                     key=f"{reply_key(int(order.id))}:late")
    log.warning("top-up order %d: done after all (the customer was told it failed)", order.id)
    return True


def _submit_one(
    order_id: int, client: TopupBank, rules: Rules, now: datetime, *,
    hold_seconds: float, max_attempts: int, retry_after: float, retry_max: float,
    answered_at: Clock,
) -> tuple[bool, bool]:
    """Submit one order: (reached a final state, the bank was unreachable)."""
    with write_transaction():
        claimed = queries.claim_topup_order(order_id, DUE_STATES, now)
        if claimed is None:
            return False, False  # finished meanwhile by another run
        order: TopupOrder = claimed
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
    except BankRefused as exc:
        # A 4xx: our request is wrong (or its key was reused with another body). Sending it
        # again would fail the same way; give up loudly.
        log.error("top-up order %d refused by the bank: %s %s", order_id, exc.status, exc.code)
        return _finish(order, rules, now, state="failed", reason=f"bank_{exc.code}"), False
    except BankDown as exc:
        # Unreachable, 5xx, a broken answer or a token problem: the bank may or may not
        # have debited. Only the same key may be sent again.
        level = logging.ERROR if exc.auth else logging.WARNING
        log.log(level, "top-up order %d: bank unavailable: %s", order_id, exc)
        return _retry_or_fail(order, rules, now, hold_seconds=hold_seconds,
                              max_attempts=max_attempts, retry_after=retry_after,
                              retry_max=retry_max), True
    # The bank booked the debit before it answered, so every page of the feed that does
    # not count it yet is as of an earlier time than the answer (DESIGN §5): whole
    # seconds, as the bank's times may be, so that a movement booked later in the same
    # second still moves the balance on. A repeated call (same key) may be answered with
    # the first answer's balance, which later movements may have changed since: only a
    # first attempt's balance is fresh.
    fresh = result.balance_after if result.done and int(order.attempts) == 1 else None
    as_of = answered_at().replace(microsecond=0)
    return _finish(order, rules, now, result=result,
                   applied_balance=None if fresh is None else (fresh, as_of)), False


def _retry_or_fail(
    order: TopupOrder, rules: Rules, now: datetime, *,
    hold_seconds: float, max_attempts: int, retry_after: float, retry_max: float,
) -> bool:
    held = (now - order.created_at).total_seconds()
    if held >= hold_seconds or int(order.attempts) >= max_attempts:
        # Resolved (did the bank debit?) once the bank answers again; not in this run.
        return _finish(order, rules, now, state="failed", reason=FAILED_REASON_UNAVAILABLE,
                       next_attempt_at=now + timedelta(seconds=retry_after))
    delay = timedelta(seconds=min(retry_after * 2 ** max(0, int(order.attempts) - 1),
                                  retry_max))
    with write_transaction():
        queries.postpone_topup(int(order.id), now + delay, now, states=DUE_STATES)
    return False


def _finish(
    order: TopupOrder, rules: Rules, now: datetime, *, result: TopupAnswer | None = None,
    state: str | None = None, reason: str | None = None,
    next_attempt_at: datetime | None = None,
    applied_balance: tuple[Decimal, datetime] | None = None,
) -> bool:
    """Commit the order's final state and the customer's reply together (one transaction),
    and, with `applied_balance` (balance, as of), the debited account's new balance."""
    if result is not None:
        state = "done" if result.done else "rejected"
        reason = result.reason
    assert state is not None
    balance_after: Decimal | None = result.balance_after if result is not None else None
    with write_transaction():
        changed = queries.finish_topup(
            int(order.id), state=state, reason=reason, balance_after=balance_after,
            bank_id=None if result is None else result.id,
            next_attempt_at=next_attempt_at, now=now, states=DUE_STATES)
        if not changed:
            return False
        if applied_balance is not None:
            queries.apply_topup_balance(str(order.agreement_id), *applied_balance)
        _queue_reply(order, state, reason, balance_after, rules=rules, now=now,
                     key=reply_key(int(order.id)))
    log.info("top-up order %d: %s%s", order.id, state, f" ({reason})" if reason else "")
    tally.topup(state)
    return True


def _queue_reply(
    order: TopupOrder, state: str, reason: str | None, balance_after: Decimal | None, *,
    rules: Rules, now: datetime, key: str,
) -> None:
    """Queue the customer's outcome SMS (inside the caller's transaction), once per key."""
    agreement: Agreement = queries.agreement_by_id(str(order.agreement_id))
    shown_target = str(order.subscriber_id or order.target) if order.product else str(
        order.target)
    text = topup_outcome_text(
        state, reason, order.amount, shown_target, balance_after, str(agreement.language), rules,
        product=order.product,
    )
    queue_topup_reply(str(agreement.phone), text, order.inbound_id, key, now)
