"""Bank requests (STOP/START, SQ/EN/SR, BLLOKO): created with the inbound decision (I2),
claimed, postponed, finished with their reply; the local agreement follows a done change."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from appliance.store.models import PRIORITY_TOPUP_RESULT, Agreement, BankRequest, OutboxMessage

JsonParams = dict[str, str | bool]


def create_bank_request(*, idempotency_key: str, agreement_id: str, inbound_id: int,
                        kind: str, params: JsonParams, now: datetime) -> None:
    """Insert a `pending` request; a second one with the same key is a no-op.

    Run it inside the caller's write transaction, with the inbound decision (I2).
    """
    BankRequest.insert(
        idempotency_key=idempotency_key, agreement=agreement_id, inbound=inbound_id,
        kind=kind, params=json.dumps(params, sort_keys=True), created_at=now, updated_at=now,
    ).on_conflict_ignore().execute()


def request_params(row: BankRequest) -> JsonParams:
    """The request's parameters as stored (see `create_bank_request`)."""
    value = json.loads(str(row.params))
    if not isinstance(value, dict):
        raise ValueError(f"bank request {row.id}: params is not an object")
    return {str(k): v for k, v in value.items() if isinstance(v, str | bool)}


def due_request_ids(states: Sequence[str], now: datetime, limit: int) -> list[int]:
    """Ids of requests in `states` due at `now`, oldest first, at most `limit`."""
    rows = (
        BankRequest.select(BankRequest.id)
        .where(BankRequest.state.in_(list(states))
               & (BankRequest.next_attempt_at.is_null() | (BankRequest.next_attempt_at <= now)))
        .order_by(BankRequest.id)
        .limit(limit)
    )
    return [int(r.id) for r in rows]


def claim_request(request_id: int, states: Sequence[str], now: datetime) -> BankRequest | None:
    """One of `states` → `submitted`, one attempt more; the row, or None when it is no
    longer in `states`. Inside the caller's write transaction (committed before the call)."""
    claimed = (
        BankRequest.update(state="submitted", attempts=BankRequest.attempts + 1, updated_at=now)
        .where((BankRequest.id == request_id) & BankRequest.state.in_(list(states)))
        .execute()
    )
    if not claimed:
        return None
    row: BankRequest = BankRequest.get_by_id(request_id)
    return row


def postpone_request(request_id: int, next_attempt_at: datetime, now: datetime) -> int:
    """Due again at `next_attempt_at` (the bank was down); rows changed."""
    return int(BankRequest.update(next_attempt_at=next_attempt_at, updated_at=now).where(
        (BankRequest.id == request_id) & (BankRequest.state == "submitted")).execute())


def finish_request(request_id: int, state: str, outcome: str, now: datetime) -> int:
    """Record the final state and outcome; rows changed (0: finished by someone else).
    Inside the caller's write transaction, with the customer's reply."""
    return int(BankRequest.update(state=state, outcome=outcome, next_attempt_at=None,
                                  updated_at=now).where(
        (BankRequest.id == request_id) & (BankRequest.state == "submitted")).execute())


def apply_alerts(agreement_id: str, enabled: bool, now: datetime) -> int:
    """The bank turned the agreement's alerts on or off: so does the box, at once (the
    next sync brings the same). Turned on: from `now` only (nothing booked while off), in
    whole seconds as the bank books (a movement in the second of the START alerts)."""
    values: dict[str, object] = {"alerts_enabled": enabled}
    which = Agreement.id == agreement_id
    if enabled:
        values["alerts_since"] = now.replace(microsecond=0)
        which &= Agreement.alerts_enabled == 0
    return int(Agreement.update(**values).where(which).execute())


def apply_language(agreement_id: str, language: str) -> int:
    """The bank changed the agreement's language: so does the box, at once."""
    return int(Agreement.update(language=language).where(
        Agreement.id == agreement_id).execute())


def agreement_row(agreement_id: str) -> Agreement:
    """The agreement `agreement_id` (raises `Agreement.DoesNotExist`)."""
    row: Agreement = Agreement.get_by_id(agreement_id)
    return row


def queue_request_reply(to: str, text: str, inbound_id: int | None, key: str,
                        now: datetime) -> None:
    """Queue a request's outcome SMS once per `key` (insert-or-ignore; I4), inside the
    caller's write transaction with the request's final state."""
    OutboxMessage.insert(
        to=to, text=text, kind="reply", priority=PRIORITY_TOPUP_RESULT,
        state="queued", dedupe_key=key, inbound=inbound_id, created_at=now,
    ).on_conflict_ignore().execute()
