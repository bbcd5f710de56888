"""What the inbound flow stores and decides on: raw PDUs (I1), their dedupe keys, the
undecided rows, and the marks of a decision (I2); refusals to strangers once a day.

The handled mark is fixed SQL: it is on the hot path of every message (bench/bench_daemon.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from appliance.store.db import insert_once, write_transaction, writing
from appliance.store.fields import utc_text
from appliance.store.models import (
    INBOUND_STATES,
    InboundMessage,
    UnknownSenderReply,
    database,
)

# One raw inbound row as the inbound flow hands it over: column name → value.
InboundRow = dict[str, Any]


def inbound_dedupe_key(sender: str | None, smsc_time: datetime | None, pdu_hex: str) -> str:
    """DESIGN §2.1's key: sender, service-centre time and the PDU's SHA-256.

    The same PDU read twice gives the same key; a second identical text sent a minute
    later carries another service-centre time and so another key.
    """
    digest = hashlib.sha256(pdu_hex.strip().upper().encode("ascii")).hexdigest()
    when = utc_text(smsc_time) if smsc_time is not None else "-"
    return f"{sender or '-'}|{when}|{digest}"


def concat_group_key(sender: str | None, ref: int, total: int) -> str:
    """The group of a concatenated part (same as `core.concat.Group.key`)."""
    return f"{sender or '-'}|{ref}|{total}"


def store_inbound(
    *,
    modem: str,
    pdu: str,
    sender: str | None,
    smsc_time: datetime | None,
    received_at: datetime,
    storage: str | None = None,
    storage_index: int | None = None,
    text: str | None = None,
    concat_ref: int | None = None,
    part_no: int | None = None,
    parts_total: int | None = None,
    state: str = "stored",
    outcome: str | None = None,
) -> tuple[InboundMessage, bool]:
    """Commit one raw PDU (I1); returns (row, created). A second copy returns the first row."""
    if state not in INBOUND_STATES:
        raise ValueError(f"unknown inbound state {state!r}")
    key = inbound_dedupe_key(sender, smsc_time, pdu)
    group = (
        concat_group_key(sender, concat_ref, parts_total)
        if concat_ref is not None and parts_total is not None
        else None
    )
    # Insert-or-ignore on the unique key, then read: two readers (two boxes) cannot race.
    with write_transaction():
        created = InboundMessage.insert(
            dedupe_key=key,
            modem=modem,
            storage=storage,
            storage_index=storage_index,
            pdu=pdu,
            sender=sender,
            smsc_time=smsc_time,
            received_at=received_at,
            text=text,
            concat_ref=concat_ref,
            part_no=part_no,
            parts_total=parts_total,
            group_key=group,
            state=state,
            outcome=outcome,
        ).on_conflict_ignore().as_rowcount().execute()
        row: InboundMessage = InboundMessage.get(InboundMessage.dedupe_key == key)
    return row, bool(created)


def store_raw_inbound(rows: Sequence[Mapping[str, Any]]) -> int:
    """Commit raw inbound rows (I1) in one write transaction; returns how many were new.

    insert-or-ignore on the dedupe key: a copy read twice is a no-op. Rows may name
    different columns (an undecodable PDU has no sender); a column a row lacks is NULL.
    """
    if not rows:
        return 0
    keys = sorted({k for row in rows for k in row})
    uniform = [{k: row.get(k) for k in keys} for row in rows]
    with writing():
        return int(InboundMessage.insert_many(uniform).on_conflict_ignore()
                   .as_rowcount().execute())


def pending_inbound() -> list[InboundMessage]:
    """Every inbound row still to be decided (`stored` or `waiting_parts`), oldest id first."""
    return list(
        InboundMessage.select()
        .where(InboundMessage.state.in_(("stored", "waiting_parts")))
        .order_by(InboundMessage.id)
    )


def mark_waiting_parts(ids: Sequence[int]) -> int:
    """Mark inbound rows `waiting_parts` (one write transaction); returns rows changed."""
    if not ids:
        return 0
    with writing():  # queued behind the other writers, never "database is locked"
        return int(InboundMessage.update(state="waiting_parts").where(
            InboundMessage.id.in_(list(ids))).execute())


def mark_inbound(
    ids: Sequence[int], state: str, now: datetime, outcome: str | None = None, *,
    only_undecided: bool = False,
) -> int:
    """Set the state (and outcome) of inbound rows; `handled_at` is set for final states.

    Call it inside the caller's `database.atomic()` together with the replies and the
    order the message causes (I2); nested, it joins that transaction. With
    `only_undecided`, rows another decider already finished are left as they are.
    """
    if state not in INBOUND_STATES:
        raise ValueError(f"unknown inbound state {state!r}")
    final = state in ("handled", "ignored", "undecodable")
    which = InboundMessage.id.in_(list(ids))
    if only_undecided:
        which &= InboundMessage.state.in_(("stored", "waiting_parts"))
    with database.atomic():
        return int(
            InboundMessage.update(
                state=state,
                outcome=outcome,
                handled_at=now if final else None,
            )
            .where(which)
            .execute()
        )


def claim_unknown_sender_reply(phone: str, day: str, now: datetime) -> bool:
    """True the first time this phone is seen on this local `day` (send the refusal once)."""
    return insert_once(UnknownSenderReply, phone=phone, day=day, created_at=now)


# --- the decision's mark (hot path) ------------------------------------------------

# The state guard makes a second decision of the same message impossible.
_HANDLED_UPDATE = (
    "UPDATE inbound_message SET state = 'handled', handled_at = ?, outcome = ? "
    "WHERE id IN ({marks}) AND state IN ('stored', 'waiting_parts')"
)


def mark_handled(ids: Sequence[int], outcome: str, now: datetime) -> int:
    """stored/waiting_parts → handled for inbound rows; returns how many were taken.

    Rows already decided are left alone (fewer than `len(ids)` taken: someone else
    decided). Run it inside the caller's write transaction, with the replies (I2).
    """
    if not ids:
        return 0
    marks = ", ".join("?" * len(ids))
    cursor = database.execute_sql(_HANDLED_UPDATE.format(marks=marks),
                                  [utc_text(now), outcome, *ids])
    return int(cursor.rowcount)
