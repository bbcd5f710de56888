"""Several boxes on one queue (DESIGN §10), on SQLite and PostgreSQL: a claim carries its
box, modem and lease; a box starting takes back its own leftovers and dead boxes' expired
ones, never a live box's; a running box takes over a dead box's expired claims; boxes
claiming at once never take one row twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from appliance.store import leases, presence, queries, sendsteps
from appliance.store.fields import utc_text
from appliance.store.models import OutboxMessage
from appliance.store.outbox import ClaimedOutbox

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


def test_a_claim_taken_over_writes_no_pdu_and_marks_nothing(db: Any) -> None:
    """A box stuck past its lease (issue 14): another box took the row over and claimed it
    again; the stuck box's check before its PDU fails, and nothing it reports later (sent,
    a retry, a failure, a send broken off) touches the new claim."""
    queries.enqueue_outbox(PHONE, "B", "reply", NOW)
    stuck = queries.claim_next_outbox(set(), NOW, "vala-a", box="box-a", lease=LEASE)
    assert stuck is not None
    later = NOW + LEASE + timedelta(seconds=1)
    assert sendsteps.recover_sending("resend", later, box="box-b", others=True).unsent == [
        stuck.id]
    again = queries.claim_next_outbox(set(), later, "vala-b", box="box-b", lease=LEASE)
    assert again is not None
    assert (again.id, again.attempts) == (stuck.id, stuck.attempts + 1)
    assert not leases.claim_pdu(stuck.id, stuck.attempts, later + LEASE)
    assert leases.renew([(stuck.id, stuck.attempts)], later + LEASE) == 0
    assert not queries.mark_sent(stuck.id, [3], later, attempts=stuck.attempts)
    with pytest.raises(LookupError):
        queries.requeue(stuck.id, later, "no answer", attempts=stuck.attempts)
    with pytest.raises(LookupError):
        queries.mark_failed(stuck.id, "refused", later, attempts=stuck.attempts)
    assert not sendsteps.await_report(stuck.id, later, LEASE, "no answer",
                                      attempts=stuck.attempts)
    row = OutboxMessage.get_by_id(stuck.id)
    assert (row.state, row.box, row.send_step) == ("sending", "box-b", None)
    # The new claim's own check passes, and holds it another lease.
    assert leases.claim_pdu(again.id, again.attempts, later + LEASE)
    row = OutboxMessage.get_by_id(again.id)
    assert (row.send_step, row.lease_until) == ("pdu", later + LEASE)
    assert queries.mark_sent(again.id, [4], later, attempts=again.attempts)


def test_a_lapsed_claim_not_yet_taken_over_is_still_its_own(db: Any) -> None:
    """Past its lease but before any box took it over, the check before the PDU succeeds
    and extends the lease: the other box then leaves the row alone."""
    queries.enqueue_outbox(PHONE, "B", "reply", NOW)
    row = queries.claim_next_outbox(set(), NOW, "vala-a", box="box-a", lease=LEASE)
    assert row is not None
    late = NOW + LEASE + timedelta(seconds=5)
    assert leases.claim_pdu(row.id, row.attempts, late + LEASE)
    done = sendsteps.recover_sending("resend", late + timedelta(seconds=1), box="box-b",
                                     others=True)
    assert (done.unsent, done.waiting, done.by_policy) == ([], [], [])


def test_a_claim_in_flight_renewed_is_not_taken_over(db: Any) -> None:
    queries.enqueue_outbox(PHONE, "B", "reply", NOW)
    row = queries.claim_next_outbox(set(), NOW, "vala-a", box="box-a", lease=LEASE)
    assert row is not None
    assert leases.renew([(row.id, row.attempts)], NOW + 2 * LEASE) == 1
    done = sendsteps.recover_sending("resend", NOW + LEASE + timedelta(seconds=1),
                                     box="box-b", others=True)
    assert done.unsent == []
    assert OutboxMessage.get_by_id(row.id).lease_until == NOW + 2 * LEASE


GRACE = timedelta(seconds=10)
HOLD = timedelta(seconds=60)
STALE = timedelta(seconds=15)


def _pdu_written_on_box_c() -> ClaimedOutbox:
    """box-c's modem vala-c has written the PDU of a reply it claimed."""
    presence.report_modems("box-c", [("vala-c", "vala", True)], NOW, STALE)
    queries.enqueue_outbox(PHONE, "B", "reply", NOW)
    row = queries.claim_next_outbox(set(), NOW, "vala-c", box="box-c", lease=LEASE)
    assert row is not None
    assert leases.claim_pdu(row.id, row.attempts, NOW + LEASE)
    return row


def _in_doubt_on_dead_box(db: Any) -> tuple[int, datetime]:
    """box-c's modem wrote a PDU, then box-c died; box-a takes the row over after the
    lease: in doubt, held for vala-c. Returns the row and the takeover time."""
    row = _pdu_written_on_box_c()
    taken = NOW + LEASE + timedelta(seconds=1)
    done = sendsteps.recover_sending("resend", taken, GRACE, box="box-a", others=True,
                                     hold=HOLD)
    assert done.waiting == [row.id]
    held = OutboxMessage.get_by_id(row.id)
    assert (held.state, held.send_step, held.held_at) == ("sending", "unconfirmed", taken)
    return row.id, taken


def _tick(now: datetime) -> list[int]:
    """What a running box does every second: the hold, then the policy where due."""
    leases.hold_in_doubt(now, GRACE, HOLD)
    return [row_id for row_id, _ in sendsteps.expire_unconfirmed("resend", now)]


def test_a_dead_boxs_row_in_doubt_waits_for_its_modem_then_a_grace(db: Any) -> None:
    """Issue 14: no policy while the dead box's modem is away; once it reports again (the
    box restarted), a grace for its stored report, which settles the row."""
    row_id, taken = _in_doubt_on_dead_box(db)
    back = taken + timedelta(seconds=40)  # past the grace, within the hold
    for s in range(40):
        assert _tick(taken + timedelta(seconds=s)) == [], s
    presence.report_modems("box-c", [("vala-c", "vala", True)], back, STALE)
    # A whole grace from its return for the box's stored reports to come in.
    for s in range(int(GRACE.total_seconds())):
        assert _tick(back + timedelta(seconds=s)) == [], s
    assert OutboxMessage.get_by_id(row_id).held_at is None
    assert sendsteps.settle_unconfirmed("vala-c", PHONE, 42, taken, back) == row_id
    assert OutboxMessage.get_by_id(row_id).state == "delivered"


def test_a_dead_boxs_row_in_doubt_gets_the_policy_after_the_hold(db: Any) -> None:
    """The box never comes back: the policy applies once the hold and a grace are over."""
    row_id, taken = _in_doubt_on_dead_box(db)
    due = None
    for s in range(int((HOLD + 2 * GRACE).total_seconds())):
        if _tick(taken + timedelta(seconds=s)):
            due = s
            break
    assert due is not None
    assert HOLD.total_seconds() <= due <= (HOLD + GRACE).total_seconds()
    assert OutboxMessage.get_by_id(row_id).state == "queued"  # resent by the policy


def test_without_a_hold_a_dead_boxs_row_gets_the_grace_alone(db: Any) -> None:
    row = _pdu_written_on_box_c()
    taken = NOW + LEASE + timedelta(seconds=1)
    sendsteps.recover_sending("resend", taken, GRACE, box="box-a", others=True)
    assert OutboxMessage.get_by_id(row.id).held_at is None
    leases.hold_in_doubt(taken + GRACE, GRACE, HOLD)
    assert sendsteps.expire_unconfirmed("resend", taken + GRACE) == [(row.id, PHONE)]


def test_a_box_restarting_holds_its_rows_in_doubt_until_its_modem_is_open(db: Any) -> None:
    """A box restarted (systemd) recovers before it opens its modems: its grace for the
    stored reports starts once its modem reports again, not at the recovery."""
    row = _pdu_written_on_box_c()
    start = NOW + timedelta(seconds=2)
    done = sendsteps.recover_sending("resend", start, GRACE, box="box-c", hold=HOLD)
    assert done.waiting == [row.id]
    opened = start + GRACE + timedelta(seconds=5)  # a slow modem opening, past the grace
    for s in range(int((opened - start).total_seconds())):
        assert _tick(start + timedelta(seconds=s)) == [], s
    presence.report_modems("box-c", [("vala-c", "vala", True)], opened, STALE)
    assert _tick(opened) == []
    assert _tick(opened + GRACE - timedelta(seconds=1)) == []
    assert _tick(opened + GRACE) == [row.id]
