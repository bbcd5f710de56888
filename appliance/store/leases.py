"""A claim's lease while its box lives, and a lapsed claim's wait for its modem (DESIGN §10).

A claim (`outbox.claim_next_outbox`) is one row in `sending` with its box, modem, lease
and `attempts` (counted up by each claim, so `(id, attempts)` names one claim: a row taken
over and claimed again, even by the same box, is another claim).

- `claim_pdu`: just before a PDU is written, one conditional UPDATE checks that the claim
  is still this one and extends its lease; a box that was stuck past its lease (a silent
  modem, a stopped process) and whose row another box took over finds it gone and writes
  nothing. After that statement, only a stop longer than a whole lease, in the
  microseconds before the write, could still let two boxes send one row.
- `renew`: the claims in flight are renewed while their box runs (`flows.outbound`), so a
  long send is never taken over from a live box.
- `hold_in_doubt`: a row whose claim lapsed after its PDU was written (its box died or
  was stuck, and another box took it over; or its own box restarted) may have gone out,
  and only its own modem's status report can tell (`+CNMI` ds=2 keeps it on the SIM while
  nobody listens). It waits for that modem to be seen again: while the modem has not
  reported (`modem_presence`) since `held_at`, and for at most the hold, its grace is
  pushed on; once it has, the hold ends with a whole grace from then (its box is back and
  reads the stored reports), and after that the policy applies as for any row in doubt.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from appliance.store.db import writing
from appliance.store.fields import utc_text
from appliance.store.models import database

# Any step: a later part's prompt may find the row 'unconfirmed' (another box saw its
# lapsed lease while this one was stuck); it is this claim's again, in flight.
_CLAIM_PDU_SQL = (
    "UPDATE outbox_message SET send_step = 'pdu', lease_until = ?, held_at = NULL "
    "WHERE id = ? AND state = 'sending' AND attempts = ?"
)
_RENEW_SQL = (
    "UPDATE outbox_message SET lease_until = ? WHERE id = ? AND state = 'sending' "
    "AND attempts = ? AND (send_step IS NULL OR send_step = 'pdu')"
)
# The modem is back (it reported since the row was held): the hold ends, with a whole
# grace from now for its stored reports.
_RELEASE_SQL = (
    "UPDATE outbox_message SET held_at = NULL, next_attempt_at = CASE "
    "WHEN next_attempt_at < ? THEN ? ELSE next_attempt_at END "
    "WHERE state = 'sending' AND send_step = 'unconfirmed' AND held_at IS NOT NULL "
    "AND EXISTS (SELECT 1 FROM modem_presence p WHERE p.name = outbox_message.modem "
    "AND p.seen_at > outbox_message.held_at)"
)
# Still away, within the hold: the grace pushed on once less than half of it is left.
_PUSH_SQL = (
    "UPDATE outbox_message SET next_attempt_at = ? "
    "WHERE state = 'sending' AND send_step = 'unconfirmed' AND held_at IS NOT NULL "
    "AND held_at > ? AND next_attempt_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM modem_presence p WHERE p.name = outbox_message.modem "
    "AND p.seen_at > outbox_message.held_at)"
)
_ANY_HELD_SQL = (
    "SELECT 1 FROM outbox_message WHERE state = 'sending' AND send_step = 'unconfirmed' "
    "AND held_at IS NOT NULL LIMIT 1"
)


def claim_pdu(message_id: int, attempts: int, until: datetime) -> bool:
    """The claim `(message_id, attempts)` is still this one's: mark its PDU about to be
    written and hold it until `until`. False (nothing changed): it was taken over; the
    PDU must not be written.

    One statement in autocommit, outside `writing()`: the hot path (once per part). On
    PostgreSQL it waits for a box taking the row over (`FOR UPDATE`) and then sees its
    change; on SQLite the one write lock orders the two.
    """
    cursor = database.execute_sql(_CLAIM_PDU_SQL, [utc_text(until), message_id, attempts])
    return bool(cursor.rowcount == 1)


def renew(claims: Collection[tuple[int, int]], until: datetime) -> int:
    """Hold the claims `(id, attempts)` in flight until `until`; returns how many still
    were this box's (one taken over is left to the box that took it)."""
    if not claims:
        return 0
    stamp = utc_text(until)
    renewed = 0
    with writing():
        for message_id, attempts in sorted(claims):
            cursor = database.execute_sql(_RENEW_SQL, [stamp, message_id, attempts])
            renewed += int(cursor.rowcount == 1)
    return renewed


def hold_in_doubt(now: datetime, grace: timedelta, hold: timedelta) -> None:
    """The held rows (module doc): those whose modem has been seen since get a whole grace
    from `now` and are held no more; the others' grace is pushed on when less than half
    of it is left, for at most `hold` after `held_at`. Checked about once a second: one
    read when nothing is held."""
    if not database.execute_sql(_ANY_HELD_SQL).fetchone():
        return
    fresh = utc_text(now + grace)
    with writing():
        database.execute_sql(_RELEASE_SQL, [fresh, fresh])
        if grace > timedelta(0) and hold > timedelta(0):
            database.execute_sql(_PUSH_SQL, [fresh, utc_text(now - hold),
                                             utc_text(now + grace / 2)])
