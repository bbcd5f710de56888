"""How far a send got, and what a crash mid-send leaves (I5, issue 16).

A claimed row (`sending`) has `send_step` NULL until its first PDU is about to be
written; then `'pdu'` (one fixed UPDATE, `mark_pdu_step`). After a crash:
- `sending` with no step: nothing can have reached the network; requeued, no risk;
- `sending` at `'pdu'`: it may have gone out. With a grace period it becomes
  `'unconfirmed'` (still `sending`), due for the policy at `next_attempt_at`; a status
  report for its recipient in that time settles it as `delivered` (`settle_unconfirmed`),
  else `expire_unconfirmed` applies the policy ('resend' or 'fail').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from appliance.core.gsm7 import segment_count
from appliance.store.db import is_postgres, writing
from appliance.store.fields import parse_utc_text, utc_text
from appliance.store.models import OutboxMessage, database

SendingPolicy = Literal["resend", "fail"]

# A report's service-centre time may be off our clock (the SMSC's, in its zone): accept
# a report stamped up to this long before the row was claimed.
CLOCK_SLACK = timedelta(minutes=5)
# How long a claim holds when the caller names none (config `[outbox] lease`).
DEFAULT_LEASE = timedelta(seconds=120)

_PDU_STEP_SQL = (
    "UPDATE outbox_message SET send_step = 'pdu' WHERE id = ? AND state = 'sending'"
)
_UNCONFIRMED_SQL = (
    "SELECT id, sending_at, text FROM outbox_message WHERE state = 'sending' "
    "AND send_step = 'unconfirmed' AND modem = ? AND \"to\" = ? ORDER BY id"
)
_SETTLE_SQL = (
    "UPDATE outbox_message SET state = 'delivered', send_step = NULL, modem_refs = ?, "
    "delivered_refs = ?, sent_at = COALESCE(sent_at, ?), delivered_at = ?, last_error = "
    "'interrupted after its PDU was written; a status report showed it delivered' "
    "WHERE id = ? AND state = 'sending' AND send_step = 'unconfirmed'"
)
_DUE_SQL = (
    "SELECT id, \"to\" FROM outbox_message WHERE state = 'sending' "
    "AND send_step = 'unconfirmed' "
    "AND next_attempt_at <= ?"
)


def mark_pdu_step(message_id: int) -> None:
    """The row's first PDU is about to be written: from now on it may reach the network.

    One statement in SQLite's autocommit mode, outside `writing()`: the hot path (one per
    message); it neither reads first nor joins a transaction, so it needs no lock of ours.
    """
    database.execute_sql(_PDU_STEP_SQL, [message_id])


@dataclass
class Recovery:
    """What `recover_sending` did with the rows a crash left in `sending`, by id."""

    unsent: list[int] = field(default_factory=list)  # no PDU written: requeued, no risk
    waiting: list[int] = field(default_factory=list)  # PDU written: waiting for a report
    by_policy: list[int] = field(default_factory=list)  # PDU written, no grace: policy now


def _apply_policy(ids: list[int], policy: SendingPolicy, now: datetime, why: str) -> None:
    if not ids:
        return
    if policy == "resend":
        values = {"state": "queued", "next_attempt_at": now,
                  "last_error": f"{why}; resent by policy"}
    elif policy == "fail":
        values = {"state": "failed", "last_error": f"{why}; failed by policy"}
    else:
        raise ValueError(f"unknown sending policy {policy!r}")
    OutboxMessage.update(send_step=None, **values).where(OutboxMessage.id.in_(ids)).execute()


def _leftovers(box: str | None, others: bool, stamp: str) -> tuple[str, list[str]]:
    """Which `sending` rows are a crash's leftovers (DESIGN §10). No box: all of them (one
    box alone). `box` starting: its own, unnamed ones, and any whose lease ran out (their
    box died). `others`: only other boxes' rows whose lease ran out (a box died meanwhile)."""
    sql = "SELECT id, send_step FROM outbox_message WHERE state = 'sending'"
    if box is None:
        return sql + " ORDER BY id", []
    if others:
        # 'unconfirmed' rows wait for their grace (expire_unconfirmed), not for this.
        return (sql + " AND (send_step IS NULL OR send_step = 'pdu') AND box IS NOT NULL "
                "AND box <> ? AND lease_until < ? ORDER BY id", [box, stamp])
    return sql + " AND (box IS NULL OR box = ? OR lease_until < ?) ORDER BY id", [box, stamp]


def recover_sending(policy: SendingPolicy, now: datetime,
                    grace: timedelta = timedelta(0), *, box: str | None = None,
                    others: bool = False) -> Recovery:
    """After a crash: sort the rows left in `sending` by how far they got (module doc);
    with `box`, only the rows `_leftovers` names (a fleet's other boxes are alive).

    Rows already `'unconfirmed'` (an earlier crash) keep their deadline.
    """
    out = Recovery()
    sql, params = _leftovers(box, others, utc_text(now))
    if is_postgres(database):
        # Two boxes taking over one dead box's rows: the second waits, then sees them
        # queued (or claimed afresh) and leaves them.
        sql += " FOR UPDATE"
    if others and not database.execute_sql(sql, params).fetchone():
        return out  # the common case, checked every second: one read, no write lock
    with writing():  # read-then-write: take the write lock first
        for row_id, step in database.execute_sql(sql, params):
            if step is None:
                out.unsent.append(int(row_id))
            elif step == "pdu":
                (out.waiting if grace > timedelta(0) else out.by_policy).append(int(row_id))
        if out.unsent:
            OutboxMessage.update(
                state="queued", next_attempt_at=now, send_step=None,
                last_error="interrupted before its PDU was written; resent",
            ).where(OutboxMessage.id.in_(out.unsent)).execute()
        if out.waiting:
            OutboxMessage.update(
                send_step="unconfirmed", next_attempt_at=now + grace,
                last_error="interrupted after its PDU was written; waiting for a report",
            ).where(OutboxMessage.id.in_(out.waiting)).execute()
        _apply_policy(out.by_policy, policy, now, "interrupted after its PDU was written")
    return out


def expire_unconfirmed(policy: SendingPolicy, now: datetime) -> list[tuple[int, str]]:
    """Apply the policy to unconfirmed rows whose grace ran out with no report; returns
    their (id, recipient)."""
    stamp = utc_text(now)
    if not database.execute_sql(_DUE_SQL, [stamp]).fetchone():
        return []  # the common case: one read, no write lock
    with writing():
        rows = [(int(r[0]), str(r[1])) for r in database.execute_sql(_DUE_SQL, [stamp])]
        _apply_policy([row_id for row_id, _ in rows], policy, now,
                      "interrupted after its PDU was written, no status report within "
                      "the grace period")
    return rows


def settle_unconfirmed(modem: str, recipient: str, ref: int, smsc_time: datetime | None,
                       now: datetime) -> int | None:
    """A delivered report whose reference matched no sent row: mark the oldest
    unconfirmed row to `recipient` through `modem`, claimed no later than the report's
    service-centre time (with `CLOCK_SLACK`), as delivered. Returns its id, or None.
    Multi-part rows are never settled this way: the crash may have come between parts,
    so they wait for the policy."""
    with writing():
        for row_id, sending_at, text in database.execute_sql(_UNCONFIRMED_SQL,
                                                             [modem, recipient]):
            if segment_count(str(text)) > 1:
                continue  # one part's report does not say the others went (or will go)
            claimed = parse_utc_text(str(sending_at)) if sending_at is not None else None
            if smsc_time is not None and claimed is not None \
                    and smsc_time + CLOCK_SLACK < claimed:
                continue  # a report for something sent before this row was claimed
            stamp = utc_text(now)
            cursor = database.execute_sql(_SETTLE_SQL, [str(ref), str(ref), stamp, stamp,
                                                        row_id])
            if cursor.rowcount == 1:
                return int(row_id)
    return None
