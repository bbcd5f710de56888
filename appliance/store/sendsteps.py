"""How far a send got, and what a crash mid-send leaves (I5, issue 16).

A claimed row (`sending`) has `send_step` NULL until its first PDU is about to be
written; then `'pdu'` (one fixed UPDATE: `leases.claim_pdu`, which checks the claim is
still this box's first; `mark_pdu_step` without that check). After a crash:
- `sending` with no step: nothing can have reached the network; requeued, no risk;
- `sending` at `'pdu'`: it may have gone out. With a grace period it becomes
  `'unconfirmed'` (still `sending`), due for the policy at `next_attempt_at`; a status
  report for its recipient in that time settles it as `delivered` (`settle_unconfirmed`),
  else `expire_unconfirmed` applies the policy ('resend' or 'fail').
A send the modem broke off after its PDU was written (no answer, the port gone) is the
same case while the daemon runs: `await_report` makes it `'unconfirmed'` at once.
In a fleet, a row another box took over at `'pdu'` (its own box dead or stuck) also
waits for its modem to be seen again (`held_at`, `store.leases.hold_in_doubt`).
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
# Every row to that recipient through that modem that may have gone out unrecorded: one
# in flight ('pdu', its +CMGS answer not yet recorded) or in doubt ('unconfirmed').
_IN_DOUBT_SQL = (
    "SELECT id, sending_at, text, send_step FROM outbox_message WHERE state = 'sending' "
    "AND send_step IN ('pdu', 'unconfirmed') AND modem = ? AND \"to\" = ? ORDER BY id"
)
_SETTLE_SQL = (
    "UPDATE outbox_message SET state = 'delivered', send_step = NULL, modem_refs = ?, "
    "delivered_refs = ?, sent_at = COALESCE(sent_at, ?), delivered_at = ?, last_error = "
    "'interrupted after its PDU was written; a status report showed it delivered' "
    "WHERE id = ? AND state = 'sending' AND send_step = 'unconfirmed'"
)
_AWAIT_SQL = (
    "UPDATE outbox_message SET send_step = 'unconfirmed', next_attempt_at = ?, "
    "last_error = ? WHERE id = ? AND state = 'sending'"
)
_CLAIM = " AND attempts = ?"  # this claim's, not a later one's (store.leases)
# A delivered report seen before for this recipient and reference (a stored report read
# again after a kill, before its slot was deleted) settles nothing: that row is settled.
_REPORTED_SQL = (
    "SELECT 1 FROM outbox_message WHERE state = 'delivered' AND modem = ? AND \"to\" = ? "
    "AND ',' || delivered_refs || ',' LIKE ? AND delivered_at >= ? LIMIT 1"
)
REPORT_MEMORY = timedelta(hours=1)
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
    OutboxMessage.update(send_step=None, held_at=None, **values).where(
        OutboxMessage.id.in_(ids)).execute()


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
                    others: bool = False, hold: timedelta = timedelta(0)) -> Recovery:
    """After a crash: sort the rows left in `sending` by how far they got (module doc);
    with `box`, only the rows `_leftovers` names (a fleet's other boxes are alive).

    Rows already `'unconfirmed'` (an earlier crash) keep their deadline. With a `hold` (and
    a grace), rows left after their PDU was written are marked `held_at`: they wait for
    their modem to be seen again (`store.leases`), be it another box's (`others`: that box
    died or is stuck) or this box's own, opened after this recovery.
    """
    out = Recovery()
    sql, params = _leftovers(box, others, utc_text(now))
    if is_postgres(database):
        # Taking over: a row another box holds locked is being changed by it (taken over,
        # its lease renewed, its PDU step): left alone now, looked at again in a second.
        sql += " FOR UPDATE SKIP LOCKED" if others else " FOR UPDATE"
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
                held_at=now if hold > timedelta(0) else None,
                last_error="interrupted after its PDU was written; waiting for a report",
            ).where(OutboxMessage.id.in_(out.waiting)).execute()
        _apply_policy(out.by_policy, policy, now, "interrupted after its PDU was written")
    return out


def await_report(message_id: int, now: datetime, grace: timedelta, why: str, *,
                 attempts: int | None = None) -> bool:
    """A send broken off after its PDU was written (`why`: the modem's error): it may have
    gone out, so it waits `grace` for a status report as after a crash. False when the
    row was not `sending` (with `attempts`: not in this claim any more)."""
    params: list[object] = [utc_text(now + grace),
                            f"{why} after its PDU was written; waiting for a report",
                            message_id]
    with writing():
        cursor = database.execute_sql(_AWAIT_SQL + ("" if attempts is None else _CLAIM),
                                      params + ([] if attempts is None else [attempts]))
    return bool(cursor.rowcount == 1)


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
    """A delivered report whose reference matched no sent row: mark the one row to
    `recipient` through `modem` that may have gone out unrecorded as delivered, when it is
    the only one (docs/operations.md, "A crash mid-send"): unconfirmed, of one part, and
    claimed no later than the report's service-centre time (with `CLOCK_SLACK`). Returns
    its id, or None. With two such rows (or one still in flight) the report cannot say
    which went: settling the wrong one would lose the other, so both wait for the policy.
    Multi-part rows are never settled this way: the crash may have come between parts."""
    with writing():
        if database.execute_sql(_REPORTED_SQL, [modem, recipient, f"%,{int(ref)},%",
                                                utc_text(now - REPORT_MEMORY)]).fetchone():
            return None
        rows = database.execute_sql(_IN_DOUBT_SQL, [modem, recipient]).fetchall()
        if len(rows) != 1:
            return None
        row_id, sending_at, text, step = rows[0]
        if step != "unconfirmed" or segment_count(str(text)) > 1:
            return None  # one part's report does not say the others went (or will go)
        claimed = parse_utc_text(str(sending_at)) if sending_at is not None else None
        if smsc_time is not None and claimed is not None \
                and smsc_time + CLOCK_SLACK < claimed:
            return None  # a report for something sent before this row was claimed
        stamp = utc_text(now)
        cursor = database.execute_sql(_SETTLE_SQL, [str(ref), str(ref), stamp, stamp,
                                                    row_id])
        return int(row_id) if cursor.rowcount == 1 else None
