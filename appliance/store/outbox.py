"""The outbox (I5): every row's way through its states, in this one module.

Queued (a decision's replies, a top-up outcome, an alert: `enqueue_outbox`,
`queue_replies`, `queue_topup_reply`; the sync's alerts are inserted in bulk by
`store.sync`) → `sending` (claimed) → `sent` (the modem's references) → `delivered` (its
reports), or back to `queued` (retry, crash recovery by policy), or `failed`.

The hot path (claim, sent, delivery reports, replies, routing) is fixed SQL: building
these with peewee on each call cost more CPU than everything else the daemon does in a
burst (bench/bench_daemon.py), so they are fixed strings, not rebuilt per call; only "?"
placeholders are formatted in. Column names are the models' (models.py); times are in
the store's text form (fields.utc_text).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from appliance.store.db import is_postgres, write_transaction, writing
from appliance.store.fields import parse_utc_text, utc_text
from appliance.store.models import (
    PRIORITY_ALERT,
    PRIORITY_REPLY,
    PRIORITY_TOPUP_RESULT,
    OutboxMessage,
    database,
)
from appliance.store.sendsteps import DEFAULT_LEASE, SendingPolicy, recover_sending

__all__ = [
    "ClaimedOutbox",
    "SendingPolicy",
    "claim_next_outbox",
    "enqueue_outbox",
    "mark_delivered",
    "mark_delivered_reports",
    "mark_failed",
    "mark_sent",
    "queue_replies",
    "queue_topup_reply",
    "recover_sending",
    "requeue",
    "sending_recipients",
    "set_preferred_modem",
    "unrouted_outbox",
]

# --- outbox: claim and sent -------------------------------------------------------------

# On PostgreSQL the subquery locks the row it picks and skips rows other boxes hold
# ({lock}), so boxes claiming at once take different rows instead of queueing for one.
_CLAIM_SQL = """
UPDATE outbox_message
   SET state = 'sending', modem = ?, sending_at = ?, attempts = attempts + 1,
       send_step = NULL, box = ?, lease_until = ?
 WHERE state = 'queued' AND id = (
        SELECT id FROM outbox_message
         WHERE state = 'queued'
           AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
           AND (preferred_modem IS NULL OR preferred_modem NOT IN ({excluded}))
         ORDER BY priority, id LIMIT 1{lock})
RETURNING id, "to", text, kind, attempts,
          (SELECT received_at FROM inbound_message WHERE id = outbox_message.inbound_id)
"""
_SENT_SQL = """
UPDATE outbox_message SET state = 'sent', modem_refs = ?, sent_at = ?, last_error = NULL
 WHERE id = ? AND state = 'sending'"""
_CLAIM = " AND attempts = ?"  # that claim's, not a later one's (store.leases)


@dataclass(frozen=True)
class ClaimedOutbox:
    """The fields of a claimed outbox row that sending needs."""

    id: int
    to: str
    text: str
    kind: str
    attempts: int  # including the attempt just claimed
    # When the inbound SMS this answers was stored (replies only): reply latency metric.
    inbound_at: datetime | None = None


def claim_next_outbox(excluded: Collection[str], now: datetime, claimer: str, *,
                      box: str | None = None,
                      lease: timedelta = DEFAULT_LEASE) -> ClaimedOutbox | None:
    """Take the next due message (queued → sending) in one statement, or None.

    Lowest priority first, then oldest id; only rows whose `next_attempt_at` is unset or
    not after `now`. Rows preferring a modem in `excluded` (another modem in service) are
    left to it; rows with no preference, or preferring the claimer, a modem out of service
    or one no longer configured, are taken. The row's `modem` becomes `claimer`, its `box`
    `box`, held until `now + lease`, and its `attempts` grows by one. One `UPDATE …
    RETURNING` (SQLite 3.35+) is atomic on its own, so two workers never take the same
    row; on PostgreSQL, `FOR UPDATE SKIP LOCKED` makes that so across boxes too.
    """
    names = sorted(excluded) or [""]  # '' is never a modem name: NOT IN ('') keeps all
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres(database) else ""
    sql = _CLAIM_SQL.format(excluded=", ".join("?" * len(names)), lock=lock)
    stamp = utc_text(now)
    with writing():
        row = database.execute_sql(sql, [claimer, stamp, box, utc_text(now + lease), stamp,
                                         *names]).fetchone()
    if row is None:
        return None
    return ClaimedOutbox(int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]),
                         None if row[5] is None else parse_utc_text(str(row[5])))


def mark_sent(message_id: int, refs: Sequence[int], now: datetime, *,
              attempts: int | None = None) -> bool:
    """sending → sent with the modem's references (one per part).

    False (and nothing changed) when the row is not in `sending`, or, with `attempts`, no
    longer in that claim (taken over and claimed again: store.leases).
    """
    params: list[object] = [",".join(str(int(r)) for r in refs), utc_text(now), message_id]
    with writing():
        cursor = database.execute_sql(_SENT_SQL + ("" if attempts is None else _CLAIM),
                                      params + ([] if attempts is None else [attempts]))
    return bool(cursor.rowcount == 1)


# --- delivery reports -------------------------------------------------------------------

_DELIVERED_SELECT = (
    "SELECT id, modem_refs FROM outbox_message WHERE modem = ? AND state = 'sent' "
    "AND modem_refs IN ({marks}) ORDER BY sent_at DESC, id DESC"
)
_DELIVERED_UPDATE = (
    "UPDATE outbox_message SET state = 'delivered', delivered_refs = modem_refs, "
    "delivered_at = ? WHERE id IN ({marks})"
)


def _mark_delivered(modem: str, refs: Sequence[int], now: datetime) -> list[int]:
    """Single-part messages (nearly all) in two fixed statements; the rest through
    `mark_delivered`. Returns the references that matched nothing."""
    wanted = {str(int(r)) for r in refs}
    marks = ", ".join("?" * len(wanted))
    ids: list[int] = []
    for row_id, row_refs in database.execute_sql(_DELIVERED_SELECT.format(marks=marks),
                                                 [modem, *sorted(wanted)]):
        # References wrap at 256: the latest message with one is the one reported.
        if row_refs in wanted:
            wanted.discard(row_refs)
            ids.append(int(row_id))
    if ids:
        marks = ", ".join("?" * len(ids))
        database.execute_sql(_DELIVERED_UPDATE.format(marks=marks), [utc_text(now), *ids])
    unknown: list[int] = []
    for ref in sorted(wanted, key=int):  # a part of a multi-part message, or unknown
        if mark_delivered(modem, int(ref), now) is None:
            unknown.append(int(ref))
    return unknown


def mark_delivered_reports(by_modem: Mapping[str, Sequence[int]],
                           now: datetime) -> list[tuple[str, int]]:
    """Apply delivery reports (references per modem) in one write transaction.

    Each reference marks the latest `sent` message of that modem with it; a multi-part
    message is `delivered` once every part's report is in. Returns the (modem, reference)
    pairs that matched no message (references wrap at 256), for the caller to log.
    """
    unknown: list[tuple[str, int]] = []
    with writing():
        for modem, refs in by_modem.items():
            if refs:
                unknown.extend((modem, ref) for ref in _mark_delivered(modem, refs, now))
    return unknown


# --- replies to a decision ---------------------------------------------------------

_REPLY_INSERT = (
    'INSERT INTO outbox_message ("to", text, kind, priority, state, dedupe_key, '
    "inbound_id, preferred_modem, attempts, created_at) "
    "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING"
)


def queue_replies(to: str, texts: Sequence[str], kind: str, inbound_id: int, *,
                  preferred_modem: str | None, now: datetime) -> None:
    """Queue the replies to inbound message `inbound_id` (reply priority).

    Deduplicated on `reply:<inbound_id>:<n>`, so queueing them twice is a no-op (I4).
    Run it inside the caller's write transaction, with the handled mark (I2).
    """
    stamp = utc_text(now)
    for n, text in enumerate(texts):
        database.execute_sql(_REPLY_INSERT, [
            to, text, kind, PRIORITY_REPLY, f"reply:{inbound_id}:{n}", inbound_id,
            preferred_modem, stamp])


# --- routing ----------------------------------------------------------------------------

_UNROUTED_SQL = (
    "SELECT id, \"to\" FROM outbox_message WHERE state = 'queued' "
    "AND preferred_modem IS NULL"
)
_ROUTE_SQL = (
    "UPDATE outbox_message SET preferred_modem = ? "
    "WHERE preferred_modem IS NULL AND state = 'queued' AND id IN ({marks})"
)
_ROUTE_CHUNK = 500  # well under SQLite's bound-parameter limit


def unrouted_outbox() -> list[tuple[int, str]]:
    """(id, recipient) of every queued row without a preferred modem."""
    return [(int(row_id), str(to))
            for row_id, to in database.execute_sql(_UNROUTED_SQL).fetchall()]


def set_preferred_modem(modem: str, ids: Sequence[int]) -> int:
    """Prefer `modem` for those of `ids` still queued without a preference.

    One short write transaction per chunk of ids; returns how many ids were given
    (as counted before, not the rows changed: a row sent meanwhile is simply skipped).
    """
    given = 0
    for start in range(0, len(ids), _ROUTE_CHUNK):
        chunk = list(ids[start:start + _ROUTE_CHUNK])
        with writing():
            database.execute_sql(_ROUTE_SQL.format(marks=", ".join("?" * len(chunk))),
                                 [modem, *chunk])
        given += len(chunk)
    return given


# --- queueing, failures, retries and recovery -------------------------------------



_KIND_PRIORITY: dict[str, int] = {
    "reply": PRIORITY_REPLY,
    "refusal": PRIORITY_REPLY,
    "topup_result": PRIORITY_TOPUP_RESULT,
    "alert": PRIORITY_ALERT,
}


def enqueue_outbox(
    to: str,
    text: str,
    kind: str,
    now: datetime,
    *,
    priority: int | None = None,
    dedupe_key: str | None = None,
    inbound_id: int | None = None,
    preferred_modem: str | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage | None:
    """Queue one SMS; returns the row, or None when `dedupe_key` was already queued (I4).

    The priority defaults from the kind: replies and refusals 0, top-up outcomes 10,
    alerts 20.
    """
    if kind not in _KIND_PRIORITY:
        raise ValueError(f"unknown outbox kind {kind!r}")
    values: dict[str, Any] = {
        "to": to,
        "text": text,
        "kind": kind,
        "priority": _KIND_PRIORITY[kind] if priority is None else priority,
        "state": "queued",
        "dedupe_key": dedupe_key,
        "inbound": inbound_id,
        "preferred_modem": preferred_modem,
        "next_attempt_at": not_before,
        "created_at": now,
    }
    with write_transaction():
        if dedupe_key is None:
            created: OutboxMessage = OutboxMessage.create(**values)
            return created
        # Insert-or-ignore on the unique key: two boxes queueing it at once cannot race.
        if not OutboxMessage.insert(**values).on_conflict_ignore().as_rowcount().execute():
            return None
        row: OutboxMessage = OutboxMessage.get(OutboxMessage.dedupe_key == dedupe_key)
    return row


def _update_outbox(message_id: int, from_states: tuple[str, ...], attempts: int | None,
                   **values: Any) -> None:
    # The daemon's writers queue for the lock (writing), like the hot path above.
    where = (OutboxMessage.id == message_id) & OutboxMessage.state.in_(from_states)
    if attempts is not None:  # only this claim's row, not one claimed again since
        where &= OutboxMessage.attempts == attempts
    with writing():
        changed = OutboxMessage.update(**values).where(where).execute()
    if not changed:
        raise LookupError(f"outbox message {message_id} is not in state {'/'.join(from_states)}")


def mark_failed(message_id: int, error: str, now: datetime, *,
                attempts: int | None = None) -> None:
    """Give up on a message (from queued or sending): state failed, with the reason.
    With `attempts`: only the claim that made that attempt (LookupError otherwise)."""
    del now  # kept in the signature for symmetry and future use (a failed_at column)
    _update_outbox(message_id, ("queued", "sending"), attempts, state="failed",
                   last_error=error)


def requeue(message_id: int, next_at: datetime, error: str, *,
            attempts: int | None = None) -> None:
    """sending → queued after a transient failure; due again at `next_at` (with
    `attempts`: only the claim that made that attempt)."""
    _update_outbox(message_id, ("sending",), attempts, state="queued",
                   next_attempt_at=next_at, last_error=error)


def mark_delivered(modem: str, ref: int, now: datetime) -> OutboxMessage | None:
    """Match a delivery report (+CDS) to the latest sent message with that reference.

    A multi-part message becomes `delivered` when every part's report has arrived.
    Returns the matched row (None when nothing matches: references wrap at 256).
    """
    ref_text = str(int(ref))
    # Read-then-write: take the write lock first, or the write after the read can fail
    # with "database is locked" when another connection wrote in between.
    with writing():
        candidates = (
            OutboxMessage.select()
            .where(
                (OutboxMessage.modem == modem)
                & (OutboxMessage.state == "sent")
                & (
                    (OutboxMessage.modem_refs == ref_text)
                    | OutboxMessage.modem_refs.startswith(ref_text + ",")
                    | OutboxMessage.modem_refs.endswith("," + ref_text)
                    | OutboxMessage.modem_refs.contains("," + ref_text + ",")
                )
            )
            .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        )
        for row in candidates:
            refs = [r for r in str(row.modem_refs).split(",") if r]
            if ref_text not in refs:
                continue
            got = {r for r in str(row.delivered_refs or "").split(",") if r}
            got.add(ref_text)
            values: dict[str, Any] = {"delivered_refs": ",".join(sorted(got, key=int))}
            if set(refs) <= got:
                values.update(state="delivered", delivered_at=now)
            OutboxMessage.update(**values).where(OutboxMessage.id == row.id).execute()
            matched: OutboxMessage = OutboxMessage.get_by_id(row.id)
            return matched
    return None


def sending_recipients() -> dict[int, str]:
    """Recipient of every outbox row in `sending`, by id (to log a crash's leftovers)."""
    return {
        int(r.id): str(r.to)
        for r in OutboxMessage.select(OutboxMessage.id, OutboxMessage.to).where(
            OutboxMessage.state == "sending"
        )
    }


def queue_topup_reply(to: str, text: str, inbound_id: int | None, key: str,
                      now: datetime) -> None:
    """Queue a top-up outcome SMS once per `key` (insert-or-ignore; I4), inside the
    caller's write transaction with the order's outcome."""
    OutboxMessage.insert(
        to=to, text=text, kind="topup_result", priority=PRIORITY_TOPUP_RESULT,
        state="queued", dedupe_key=key, inbound=inbound_id, created_at=now,
    ).on_conflict_ignore().execute()


_REPLY_DUE_SQL = (
    "SELECT 1 FROM outbox_message WHERE state = 'queued' AND priority = ? "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) LIMIT 1"
)


def reply_due(now: datetime) -> bool:
    """Whether a reply to a customer is queued and due (issue 17: the outbox then sends
    it at once instead of waiting for the inbox: what the inbox decides queues behind it)."""
    row = database.execute_sql(_REPLY_DUE_SQL, [PRIORITY_REPLY, utc_text(now)]).fetchone()
    return row is not None
