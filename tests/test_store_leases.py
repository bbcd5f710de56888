"""Several boxes on one queue (DESIGN §10), on SQLite and PostgreSQL: a claim carries its
box, modem and lease; a box starting takes back its own leftovers and dead boxes' expired
ones, never a live box's; a running box takes over a dead box's expired claims; boxes
claiming at once never take one row twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from appliance.store import queries, sendsteps
from appliance.store.fields import utc_text
from appliance.store.models import OutboxMessage

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PHONE = "+38344123456"
LEASE = timedelta(seconds=30)


def _claim(box: str, modem: str, now: datetime = NOW) -> int:
    row = queries.claim_next_outbox(set(), now, modem, box=box, lease=LEASE)
    assert row is not None
    return row.id


def test_a_claim_carries_box_modem_and_lease(db: Any) -> None:
    queries.enqueue_outbox(PHONE, "B", "reply", NOW)
    row_id = _claim("box-a", "vala-a")
    row = OutboxMessage.get_by_id(row_id)
    assert (row.state, row.box, row.modem, row.lease_until) == (
        "sending", "box-a", "vala-a", NOW + LEASE)


def test_a_box_starting_takes_its_own_and_expired_claims_not_a_live_boxs(db: Any) -> None:
    for n in range(4):
        queries.enqueue_outbox(PHONE, f"m{n}", "reply", NOW)
    own = _claim("box-a", "vala-a")
    live = _claim("box-b", "vala-b", NOW + timedelta(seconds=20))  # lease to NOW+50 s
    dead = _claim("box-c", "vala-c")  # lease to NOW+30 s
    legacy = _claim("box-a", "vala-a")
    OutboxMessage.update(box=None, lease_until=None).where(OutboxMessage.id == legacy).execute()
    later = NOW + timedelta(seconds=40)
    done = sendsteps.recover_sending("resend", later, box="box-a")
    assert sorted(done.unsent) == sorted([own, dead, legacy])
    assert OutboxMessage.get_by_id(live).state == "sending"


def test_a_running_box_takes_over_only_other_boxes_expired_claims(db: Any) -> None:
    for n in range(4):
        queries.enqueue_outbox(PHONE, f"m{n}", "reply", NOW)
    mine = _claim("box-a", "vala-a")
    dead_unsent = _claim("box-c", "vala-c")
    dead_written = _claim("box-c", "vala-c")
    sendsteps.mark_pdu_step(dead_written)
    live = _claim("box-b", "vala-b", NOW + timedelta(seconds=20))
    # Before the lease ends nothing is touched.
    early = sendsteps.recover_sending("resend", NOW + timedelta(seconds=10), box="box-a",
                                      others=True)
    assert (early.unsent, early.by_policy) == ([], [])
    later = NOW + timedelta(seconds=40)
    done = sendsteps.recover_sending("resend", later, box="box-a", others=True)
    assert (done.unsent, done.by_policy) == ([dead_unsent], [dead_written])
    assert OutboxMessage.get_by_id(dead_unsent).state == "queued"
    resent = OutboxMessage.get_by_id(dead_written)
    assert (resent.state, resent.send_step) == ("queued", None)  # the policy: resend
    assert "resent by policy" in resent.last_error
    assert [OutboxMessage.get_by_id(i).state for i in (mine, live)] == ["sending", "sending"]
    # Taken over once: a second look finds nothing.
    again = sendsteps.recover_sending("resend", later, box="box-a", others=True)
    assert (again.unsent, again.by_policy) == ([], [])


def test_boxes_claiming_at_once_take_each_row_once(db: Any) -> None:
    rows = 60
    stamp = utc_text(NOW)
    OutboxMessage.insert_many([
        {"to": PHONE, "text": f"alert {n}", "kind": "alert", "priority": 20,
         "state": "queued", "dedupe_key": f"alert:{n}", "attempts": 0, "created_at": stamp}
        for n in range(rows)]).execute()
    taken: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def box(name: str) -> None:
        # Each thread has a connection of its own: as four boxes (PostgreSQL) or four
        # writers of one file (SQLite).
        try:
            start.wait(timeout=10)
            while (row := queries.claim_next_outbox(set(), NOW, f"{name}-m",
                                                    box=name, lease=LEASE)) is not None:
                with lock:
                    taken.append(row.id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=box, args=(f"box{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(taken) == sorted({r.id for r in OutboxMessage.select()})
    assert len(taken) == rows


@pytest.mark.parametrize("others", [False, True])
def test_without_a_box_name_recovery_takes_every_sending_row(db: Any, others: bool) -> None:
    """One box alone (no name given): every `sending` row is its own leftover."""
    queries.enqueue_outbox(PHONE, "B", "reply", NOW)
    row_id = _claim("elsewhere", "m1")
    done = sendsteps.recover_sending("resend", NOW, others=others)
    assert done.unsent == [row_id]
