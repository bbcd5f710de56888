"""Top-ups waiting for their one-time code (DESIGN §4): created with the request's decision,
judged with the code's, turned into a `pending` order when confirmed. Every function runs
inside the caller's write transaction (with the inbound message it answers, I2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from appliance.store.models import TopupConfirmation
from appliance.store.topups import create_topup_order

AWAITING = "awaiting_code"


def awaiting_confirmation(agreement_id: str) -> TopupConfirmation | None:
    """The agreement's top-up waiting for a code (the newest), or None."""
    row: TopupConfirmation | None = (
        TopupConfirmation.select()
        .where((TopupConfirmation.agreement == agreement_id)
               & (TopupConfirmation.state == AWAITING))
        .order_by(TopupConfirmation.id.desc()).first())
    return row


def create_confirmation(
    *, agreement_id: str, inbound_id: int, idempotency_key: str, target: str, operator: str,
    product: str | None, subscriber_id: str | None, amount: Decimal, digest: str, salt: str,
    expires_at: datetime, now: datetime,
) -> None:
    """A new top-up waiting for its code; any earlier one of the agreement is replaced."""
    TopupConfirmation.update(state="replaced", updated_at=now).where(
        (TopupConfirmation.agreement == agreement_id)
        & (TopupConfirmation.state == AWAITING)).execute()
    TopupConfirmation.insert(
        agreement=agreement_id, inbound=inbound_id, idempotency_key=idempotency_key,
        target=target, operator=operator, product=product, subscriber_id=subscriber_id,
        amount=amount, code_digest=digest, code_salt=salt, expires_at=expires_at,
        created_at=now, updated_at=now,
    ).on_conflict_ignore().execute()


def note_wrong_code(confirmation_id: int, now: datetime) -> int:
    """One wrong try more; returns rows changed."""
    return int(TopupConfirmation.update(
        tries=TopupConfirmation.tries + 1, updated_at=now,
    ).where((TopupConfirmation.id == confirmation_id)
            & (TopupConfirmation.state == AWAITING)).execute())


def close_confirmation(confirmation_id: int, state: str, now: datetime) -> int:
    """`awaiting_code` → `state` (cancelled, expired, replaced); returns rows changed
    (0: closed already)."""
    return int(TopupConfirmation.update(state=state, updated_at=now).where(
        (TopupConfirmation.id == confirmation_id)
        & (TopupConfirmation.state == AWAITING)).execute())


def confirm(row: TopupConfirmation, now: datetime) -> bool:
    """`awaiting_code` → `confirmed` and the `pending` order with the request's idempotency
    key (single use: a second confirmation finds it closed); False when already closed."""
    if not close_confirmation(int(row.id), "confirmed", now):
        return False
    create_topup_order(
        idempotency_key=str(row.idempotency_key), agreement_id=str(row.agreement_id),
        inbound_id=int(row.inbound_id), target=str(row.target), operator=str(row.operator),
        product=row.product, subscriber_id=row.subscriber_id, amount=row.amount, now=now,
    )
    return True
