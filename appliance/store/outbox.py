"""The daemon's hot path as fixed SQL: the statements every message goes through.

Building these with peewee on each call cost more CPU than everything else the daemon
does in a burst (bench/bench_daemon.py), so they are fixed strings, not rebuilt per call;
only "?" placeholders are formatted in. Column names are the models' (models.py); times
are in the store's text form (fields.utc_text). Everything else lives in queries.py.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from appliance.store import queries
from appliance.store.db import writing
from appliance.store.fields import utc_text
from appliance.store.models import PRIORITY_REPLY, database

__all__ = [
    "ClaimedOutbox",
    "claim_next_outbox",
    "mark_delivered_reports",
    "mark_handled",
    "mark_sent",
    "queue_replies",
    "set_preferred_modem",
    "unrouted_outbox",
]

# --- outbox: claim and sent -------------------------------------------------------------

_CLAIM_SQL = """
UPDATE outbox_message
   SET state = 'sending', modem = ?, sending_at = ?, attempts = attempts + 1
 WHERE state = 'queued' AND id = (
        SELECT id FROM outbox_message
         WHERE state = 'queued'
           AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
           AND (preferred_modem IS NULL OR preferred_modem NOT IN ({excluded}))
         ORDER BY priority, id LIMIT 1)
RETURNING id, "to", text, kind, attempts
"""
_SENT_SQL = """
UPDATE outbox_message SET state = 'sent', modem_refs = ?, sent_at = ?, last_error = NULL
 WHERE id = ? AND state = 'sending'
"""


@dataclass(frozen=True)
class ClaimedOutbox:
    """The fields of a claimed outbox row that sending needs."""

    id: int
    to: str
    text: str
    kind: str
    attempts: int  # including the attempt just claimed


def claim_next_outbox(excluded: Collection[str], now: datetime,
                      claimer: str) -> ClaimedOutbox | None:
    """Take the next due message (queued → sending) in one statement, or None.

    Lowest priority first, then oldest id; only rows whose `next_attempt_at` is unset or
    not after `now`. Rows preferring a modem in `excluded` (another modem in service) are
    left to it; rows with no preference, or preferring the claimer, a modem out of service
    or one no longer configured, are taken. The row's `modem` becomes `claimer` and its
    `attempts` grows by one. One `UPDATE … RETURNING` (SQLite 3.35+) is atomic on its own,
    so two workers never take the same row.
    """
    names = sorted(excluded) or [""]  # '' is never a modem name: NOT IN ('') keeps all
    sql = _CLAIM_SQL.format(excluded=", ".join("?" * len(names)))
    stamp = utc_text(now)
    with writing():
        row = database.execute_sql(sql, [claimer, stamp, stamp, *names]).fetchone()
    if row is None:
        return None
    return ClaimedOutbox(int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]))


def mark_sent(message_id: int, refs: Sequence[int], now: datetime) -> bool:
    """sending → sent with the modem's references (one per part).

    False (and nothing changed) when the row is not in `sending`.
    """
    with writing():
        cursor = database.execute_sql(_SENT_SQL, [",".join(str(int(r)) for r in refs),
                                                  utc_text(now), message_id])
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
    `queries.mark_delivered`. Returns the references that matched nothing."""
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
        if queries.mark_delivered(modem, int(ref), now) is None:
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


# --- decisions: handled marks and replies ----------------------------------------------

# The state guard makes a second decision of the same message impossible.
_HANDLED_UPDATE = (
    "UPDATE inbound_message SET state = 'handled', handled_at = ?, outcome = ? "
    "WHERE id IN ({marks}) AND state IN ('stored', 'waiting_parts')"
)
_REPLY_INSERT = (
    'INSERT OR IGNORE INTO outbox_message ("to", text, kind, priority, state, dedupe_key, '
    "inbound_id, preferred_modem, attempts, created_at) "
    "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, 0, ?)"
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
