"""Reads for `status` and `doctor`, the modems' identities, and housekeeping (prune)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import peewee

from appliance.store.db import write_transaction
from appliance.store.models import (
    INBOUND_STATES,
    OUTBOX_STATES,
    REQUEST_STATES,
    TOPUP_STATES,
    BankRequest,
    InboundMessage,
    ModemRecord,
    OutboxMessage,
    TopupOrder,
    UnknownSenderReply,
)


def record_modem_identity(
    name: str, imsi: str | None, imei: str | None, now: datetime
) -> str | None:
    """Remember the modem's SIM (IMSI) and IMEI; returns the IMSI seen before (or None).

    Read-then-write, so it takes SQLite's write lock first; `write_transaction`, not
    `writing`, because the daemon calls it inside its own `write_transaction()`.
    """
    with write_transaction():
        previous = ModemRecord.get_or_none(ModemRecord.name == name)
        ModemRecord.insert(name=name, imsi=imsi, imei=imei, last_seen=now).on_conflict(
            conflict_target=[ModemRecord.name],
            update={ModemRecord.imsi: imsi, ModemRecord.imei: imei, ModemRecord.last_seen: now},
        ).execute()
    return None if previous is None else previous.imsi


def counts_for_status(now: datetime) -> dict[str, int]:
    """Counts for `appliance status`, flat keys like `outbox.queued`, `inbound.waiting_parts`.

    Every state is present (0 when empty). Extra keys: `outbox.due` (queued and due now),
    `outbox.oldest_queued_seconds` (age of the oldest queued message, 0 when none).
    """
    counts: dict[str, int] = {}
    for prefix, model, states in (
        ("outbox", OutboxMessage, OUTBOX_STATES),
        ("inbound", InboundMessage, INBOUND_STATES),
        ("topups", TopupOrder, TOPUP_STATES),
        ("requests", BankRequest, REQUEST_STATES),
    ):
        for state in states:
            counts[f"{prefix}.{state}"] = 0
        query = model.select(model.state, peewee.fn.COUNT(model.id).alias("n")).group_by(
            model.state
        )
        for row in query:
            counts[f"{prefix}.{row.state}"] = int(row.n)
    due = OutboxMessage.next_attempt_at.is_null() | (OutboxMessage.next_attempt_at <= now)
    counts["outbox.due"] = (
        OutboxMessage.select().where((OutboxMessage.state == "queued") & due).count()
    )
    oldest_row = (
        OutboxMessage.select(OutboxMessage.created_at)
        .where(OutboxMessage.state == "queued")
        .order_by(OutboxMessage.created_at)
        .first()
    )
    oldest = None if oldest_row is None else oldest_row.created_at
    counts["outbox.oldest_queued_seconds"] = (
        max(0, int((now - oldest).total_seconds())) if isinstance(oldest, datetime) else 0
    )
    return counts


def oldest_inbound_at(states: Sequence[str]) -> datetime | None:
    """When the oldest inbound message in one of `states` arrived, or None."""
    oldest: datetime | str | None = (
        InboundMessage.select(peewee.fn.MIN(InboundMessage.received_at))
        .where(InboundMessage.state.in_(states)).scalar())
    if isinstance(oldest, str):  # MIN() hands back the stored text, not the field's value
        return InboundMessage.received_at.python_value(oldest)
    return oldest


def traffic_since(start: datetime) -> tuple[int, int]:
    """(messages received, messages sent) since `start`."""
    received = InboundMessage.select().where(InboundMessage.received_at >= start).count()
    sent = (OutboxMessage.select()
            .where(OutboxMessage.sent_at.is_null(False) & (OutboxMessage.sent_at >= start))
            .count())
    return int(received), int(sent)


def modem_records() -> dict[str, ModemRecord]:
    """Every modem this box has seen (identity and last sighting), by name."""
    return {str(r.name): r for r in ModemRecord.select()}


def prune(before: datetime) -> dict[str, int]:
    """Delete finished traffic older than `before`; returns rows deleted per table.

    Removed: outbox rows that are sent, delivered or failed; inbound rows that were
    decided (handled, ignored, undecodable) and that no remaining outbox row or any
    top-up order points to; once-a-day refusal markers. Kept for ever: top-up orders
    (money), movements (they tell the sync which movements were already alerted),
    and anything still in flight.
    """
    with write_transaction():
        outbox = (
            OutboxMessage.delete()
            .where(
                OutboxMessage.state.in_(("sent", "delivered", "failed"))
                & (OutboxMessage.created_at < before)
            )
            .execute()
        )
        referenced_by_outbox = OutboxMessage.select(OutboxMessage.inbound).where(
            OutboxMessage.inbound.is_null(False)
        )
        referenced_by_orders = TopupOrder.select(TopupOrder.inbound).where(
            TopupOrder.inbound.is_null(False)
        )
        inbound = (
            InboundMessage.delete()
            .where(
                InboundMessage.state.in_(("handled", "ignored", "undecodable"))
                & (InboundMessage.received_at < before)
                & InboundMessage.id.not_in(referenced_by_outbox)
                & InboundMessage.id.not_in(referenced_by_orders)
                & InboundMessage.id.not_in(BankRequest.select(BankRequest.inbound).where(
                    BankRequest.inbound.is_null(False)))
            )
            .execute()
        )
        refusals = (
            UnknownSenderReply.delete().where(UnknownSenderReply.created_at < before).execute()
        )
    return {"outbox": int(outbox), "inbound": int(inbound), "unknown_sender": int(refusals)}
