"""Typed queries (store/: inbound, outbox with its hot path, topups, state, ops) on a
real SQLite file: inbound dedupe, outbox claims and transitions, delivery reports, views, status."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest

from appliance.core.rules import Language
from appliance.core.views import SenderView
from appliance.store import queries, sendsteps, write_transaction, writing
from appliance.store.models import (
    Account,
    Agreement,
    Customer,
    InboundMessage,
    Movement,
    OutboxMessage,
    TopupOrder,
)
from tests.conftest import STORE_FILE

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PHONE = "+38344123456"


def _seed_customer() -> Agreement:
    customer = Customer.create(id="C1", name="Arta")
    Account.create(id="A2", customer=customer, kind="savings", number="1110000000009876",
                   balance=Decimal("10.10"), as_of=NOW)
    Account.create(id="A1", customer=customer, kind="current", number="1110000000001234",
                   balance=Decimal("1234.56"), as_of=NOW)
    agreement: Agreement = Agreement.create(
        id="AG1", customer=customer, phone=PHONE, language="en", alert_limit=Decimal("1000"),
        services="balance,topup,alerts", active=True)
    return agreement


def _order(agreement: Agreement, key: str, amount: str, state: str, created: datetime) -> None:
    TopupOrder.create(idempotency_key=key, agreement=agreement, target=PHONE, operator="vala",
                      amount=Decimal(amount), state=state, created_at=created,
                      updated_at=created)


# --- inbound ------------------------------------------------------------------------


def test_same_pdu_read_twice_is_a_no_op(db: peewee.SqliteDatabase) -> None:
    fields: dict[str, Any] = {"modem": "vala", "sender": PHONE, "smsc_time": NOW,
                              "received_at": NOW, "text": "B", "storage": "SM",
                              "storage_index": 3}
    first, created1 = queries.store_inbound(pdu="07913854440000F0040B", **fields)
    again, created2 = queries.store_inbound(pdu="07913854440000f0040b",
                                            **{**fields, "storage_index": 7})
    assert created1 is True
    assert created2 is False
    assert again.id == first.id
    assert InboundMessage.select().count() == 1


def test_same_text_a_minute_later_is_a_new_message(db: peewee.SqliteDatabase) -> None:
    # The PDU carries the service-centre time, so a genuine second `B` has another PDU
    # and another time: both keys differ.
    _, created1 = queries.store_inbound(modem="vala", pdu="AA01", sender=PHONE,
                                        smsc_time=NOW, received_at=NOW, text="B")
    _, created2 = queries.store_inbound(modem="vala", pdu="AA02", sender=PHONE,
                                        smsc_time=NOW + timedelta(minutes=1),
                                        received_at=NOW + timedelta(minutes=1), text="B")
    assert created1
    assert created2
    assert InboundMessage.select().count() == 2
    assert queries.inbound_dedupe_key(PHONE, NOW, "ab") == queries.inbound_dedupe_key(
        PHONE, NOW, "AB")
    assert queries.inbound_dedupe_key(PHONE, NOW, "ab") != queries.inbound_dedupe_key(
        PHONE, NOW + timedelta(seconds=1), "ab")


def test_multipart_parts_share_a_group_key(db: peewee.SqliteDatabase) -> None:
    rows = [queries.store_inbound(modem="vala", pdu=f"BB0{n}", sender=PHONE, smsc_time=NOW,
                                  received_at=NOW, text=f"part{n}", concat_ref=42, part_no=n,
                                  parts_total=2, state="waiting_parts")[0] for n in (1, 2)]
    assert {r.group_key for r in rows} == {f"{PHONE}|42|2"}
    assert queries.mark_inbound([r.id for r in rows], "handled", NOW, outcome="balance") == 2
    assert {(r.state, r.handled_at, r.outcome) for r in InboundMessage.select()} == {
        ("handled", NOW, "balance")}


def test_decision_is_one_transaction(db: peewee.SqliteDatabase) -> None:
    """I2: marking handled and the reply commit together, or not at all."""
    row, _ = queries.store_inbound(modem="vala", pdu="CC", sender=PHONE, smsc_time=NOW,
                                   received_at=NOW, text="B")

    def decide_then_crash() -> None:
        with write_transaction():
            queries.mark_inbound([row.id], "handled", NOW)
            queries.enqueue_outbox(PHONE, "Bilanci", "reply", NOW,
                                   dedupe_key=f"reply:{row.id}:0", inbound_id=row.id)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError, match="crash"):
        decide_then_crash()
    assert InboundMessage.get_by_id(row.id).state == "stored"
    assert OutboxMessage.select().count() == 0


# --- outbox -------------------------------------------------------------------------


def test_enqueue_dedupe_returns_none_for_a_second_alert(db: peewee.SqliteDatabase) -> None:
    key = f"alert:M1:{PHONE}"
    first = queries.enqueue_outbox(PHONE, "alert", "alert", NOW, dedupe_key=key)
    assert first is not None
    assert first.priority == 20
    assert queries.enqueue_outbox(PHONE, "alert", "alert", NOW, dedupe_key=key) is None
    assert OutboxMessage.select().count() == 1
    with pytest.raises(ValueError, match="kind"):
        queries.enqueue_outbox(PHONE, "x", "newsletter", NOW)


def _claim(now: datetime = NOW, excluded: frozenset[str] = frozenset(),
           claimer: str = "vala") -> queries.ClaimedOutbox | None:
    return queries.claim_next_outbox(excluded, now, claimer)


def test_claim_by_priority_then_id_respecting_next_attempt(db: peewee.SqliteDatabase) -> None:
    alert = queries.enqueue_outbox(PHONE, "alert", "alert", NOW)
    topup = queries.enqueue_outbox(PHONE, "topup done", "topup_result", NOW)
    later = queries.enqueue_outbox(PHONE, "retry later", "reply", NOW,
                                   not_before=NOW + timedelta(minutes=5))
    reply1 = queries.enqueue_outbox(PHONE, "reply 1", "reply", NOW)
    reply2 = queries.enqueue_outbox(PHONE, "reply 2", "refusal", NOW)
    assert None not in (alert, topup, later, reply1, reply2)
    order = []
    while (row := _claim()) is not None:
        assert (row.to, row.attempts) == (PHONE, 1)
        stored = OutboxMessage.get_by_id(row.id)
        assert (stored.state, stored.modem, stored.attempts) == ("sending", "vala", 1)
        assert stored.sending_at == NOW
        assert (stored.text, stored.kind) == (row.text, row.kind)
        order.append(row.text)
    assert order == ["reply 1", "reply 2", "topup done", "alert"]
    # next_attempt_at is compared with the claim's time: due exactly then, not a second before.
    assert _claim(NOW + timedelta(minutes=5) - timedelta(seconds=1)) is None
    due_later = _claim(NOW + timedelta(minutes=5))
    assert due_later is not None
    assert (due_later.text, due_later.kind) == ("retry later", "reply")


def test_claim_respects_preferred_modem(db: peewee.SqliteDatabase) -> None:
    queries.enqueue_outbox("+38349111222", "for ipko", "reply", NOW, preferred_modem="ipko")
    queries.enqueue_outbox(PHONE, "for vala", "alert", NOW, preferred_modem="vala")
    # ipko is in service: its row waits for it, vala's worker takes only its own.
    got = _claim(excluded=frozenset({"ipko"}))
    assert got is not None
    assert got.text == "for vala"
    assert _claim(excluded=frozenset({"ipko"})) is None
    # ipko's modem is down (no longer excluded): vala's worker takes its traffic over, and
    # is recorded as the sender.
    taken = _claim()
    assert taken is not None
    assert taken.text == "for ipko"
    assert OutboxMessage.get_by_id(taken.id).modem == "vala"


def test_claim_takes_rows_for_a_modem_no_longer_configured(
        db: peewee.SqliteDatabase) -> None:
    queries.enqueue_outbox(PHONE, "for an old modem", "reply", NOW, preferred_modem="old")
    queries.enqueue_outbox(PHONE, "for ipko", "reply", NOW, preferred_modem="ipko")
    row = _claim(excluded=frozenset({"ipko", "telkos"}))
    assert row is not None
    assert row.text == "for an old modem"
    assert _claim(excluded=frozenset({"ipko", "telkos"})) is None


def test_concurrent_claims_never_take_the_same_row(db: peewee.SqliteDatabase) -> None:
    for i in range(40):
        queries.enqueue_outbox(PHONE, f"m{i}", "reply", NOW)
    claimed: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(slot: int) -> None:
        try:
            start.wait(timeout=10)
            while (row := _claim(claimer=f"w{slot}")) is not None:
                claimed[slot].append(row.id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    ids = claimed[0] + claimed[1]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == 40
    for slot in (0, 1):  # each row records the worker that took it, once
        for row_id in claimed[slot]:
            row = OutboxMessage.get_by_id(row_id)
            assert (row.modem, row.attempts, row.state) == (f"w{slot}", 1, "sending")


def test_sent_delivered_failed_requeue_transitions(db: peewee.SqliteDatabase) -> None:
    queries.enqueue_outbox(PHONE, "long reply", "reply", NOW)
    row = _claim()
    assert row is not None
    queries.requeue(row.id, NOW + timedelta(seconds=10), "CMS ERROR 500")
    with pytest.raises(LookupError):
        queries.requeue(row.id, NOW, "again")  # queued, not sending
    assert queries.mark_sent(row.id, [16], NOW) is False  # queued: not sent
    assert OutboxMessage.get_by_id(row.id).state == "queued"
    assert _claim() is None
    row = _claim(NOW + timedelta(seconds=10))
    assert row is not None
    assert row.attempts == 2
    assert OutboxMessage.get_by_id(row.id).last_error == "CMS ERROR 500"
    assert queries.mark_sent(row.id, [17, 18], NOW) is True
    assert queries.mark_sent(row.id, [19], NOW) is False  # not in 'sending' any more
    sent = OutboxMessage.get_by_id(row.id)
    assert (sent.state, sent.refs(), sent.last_error, sent.sent_at) == (
        "sent", [17, 18], None, NOW)
    assert queries.mark_delivered("ipko", 17, NOW) is None  # another modem's ref 17
    part = queries.mark_delivered("vala", 18, NOW)
    assert part is not None
    assert part.state == "sent"  # one of two parts reported
    done = queries.mark_delivered("vala", 17, NOW + timedelta(seconds=3))
    assert done is not None
    assert (done.state, done.delivered_at) == ("delivered", NOW + timedelta(seconds=3))
    with pytest.raises(LookupError):
        queries.requeue(row.id, NOW, "late")  # delivered: never back to the queue

    queries.enqueue_outbox(PHONE, "doomed", "reply", NOW)
    doomed = _claim()
    assert doomed is not None
    queries.mark_failed(doomed.id, "gave up after 5 attempts", NOW)
    assert OutboxMessage.get_by_id(doomed.id).state == "failed"
    with pytest.raises(LookupError):
        queries.mark_failed(doomed.id, "twice", NOW)


def test_ref_matching_does_not_confuse_1_with_11(db: peewee.SqliteDatabase) -> None:
    queries.enqueue_outbox(PHONE, "a", "reply", NOW)
    row = _claim()
    assert row is not None
    assert queries.mark_sent(row.id, [11, 21], NOW)
    assert queries.mark_delivered("vala", 1, NOW) is None
    assert queries.mark_delivered("vala", 2, NOW) is None
    assert queries.mark_delivered_reports({"vala": [1, 2]}, NOW) == [("vala", 1), ("vala", 2)]


def _sent(text: str, refs: list[int], at: datetime, modem: str = "vala") -> int:
    queries.enqueue_outbox(PHONE, text, "alert", at)
    row = _claim(at, claimer=modem)
    assert row is not None
    assert queries.mark_sent(row.id, refs, at)
    return row.id


def test_delivery_reports_in_one_batch(db: peewee.SqliteDatabase) -> None:
    old = _sent("old", [5], NOW - timedelta(hours=2))
    new = _sent("new", [5], NOW - timedelta(minutes=1))  # references wrap at 256
    multi = _sent("multi", [6, 7], NOW)
    other = _sent("other modem", [8], NOW, modem="ipko")
    at = NOW + timedelta(seconds=5)
    unknown = queries.mark_delivered_reports({"vala": [5, 6, 99, 8], "ipko": [8]}, at)
    assert sorted(unknown) == [("vala", 8), ("vala", 99)]
    states = {i: OutboxMessage.get_by_id(i) for i in (old, new, multi, other)}
    assert states[old].state == "sent"  # the latest message with ref 5 is the one reported
    assert (states[new].state, states[new].delivered_at) == ("delivered", at)
    assert (states[multi].state, states[multi].delivered_refs) == ("sent", "6")
    assert states[other].state == "delivered"
    assert queries.mark_delivered_reports({"vala": [7]}, at) == []
    assert OutboxMessage.get_by_id(multi).state == "delivered"


def test_handled_mark_and_replies_are_guarded(db: peewee.SqliteDatabase) -> None:
    row, _ = queries.store_inbound(modem="vala", pdu="DD", sender=PHONE, smsc_time=NOW,
                                   received_at=NOW, text="B")
    with writing():
        assert queries.mark_handled([row.id], "balance", NOW) == 1
        queries.queue_replies(PHONE, ["one", "two"], "reply", row.id, preferred_modem="vala",
                          now=NOW)
    with writing():
        assert queries.mark_handled([row.id], "balance", NOW) == 0  # decided once only
        queries.queue_replies(PHONE, ["one", "two"], "reply", row.id, preferred_modem=None,
                          now=NOW)  # the same dedupe keys: a no-op (I4)
    handled = InboundMessage.get_by_id(row.id)
    assert (handled.state, handled.outcome, handled.handled_at) == ("handled", "balance", NOW)
    replies = list(OutboxMessage.select().order_by(OutboxMessage.id))
    assert [(r.text, r.kind, r.priority, r.state, r.preferred_modem, r.dedupe_key)
            for r in replies] == [
        ("one", "reply", 0, "queued", "vala", f"reply:{row.id}:0"),
        ("two", "reply", 0, "queued", "vala", f"reply:{row.id}:1"),
    ]
    assert all(r.inbound_id == row.id and r.created_at == NOW for r in replies)


def test_routing_sets_a_preference_only_on_unrouted_queued_rows(
        db: peewee.SqliteDatabase) -> None:
    a = queries.enqueue_outbox(PHONE, "a", "alert", NOW)
    b = queries.enqueue_outbox("+38349111222", "b", "alert", NOW, preferred_modem="ipko")
    c = queries.enqueue_outbox(PHONE, "c", "alert", NOW)
    assert a is not None
    assert b is not None
    assert c is not None
    assert queries.unrouted_outbox() == [(a.id, PHONE), (c.id, PHONE)]
    claimed = _claim()  # "a" leaves the queue before the routing is applied
    assert claimed is not None
    assert claimed.id == a.id
    assert queries.set_preferred_modem("vala", [a.id, c.id]) == 2
    assert OutboxMessage.get_by_id(a.id).preferred_modem is None  # sending: left alone
    assert OutboxMessage.get_by_id(b.id).preferred_modem == "ipko"
    assert OutboxMessage.get_by_id(c.id).preferred_modem == "vala"
    assert queries.unrouted_outbox() == []


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)  # SQLite's one lock
def test_mark_delivered_takes_the_write_lock_before_reading(
        db: peewee.SqliteDatabase, tmp_path: Path) -> None:
    """A read-then-write that began deferred fails ("database is locked") when another
    connection commits between its read and its write; one that locks first waits."""
    row_id = _sent("two parts", [5, 6], NOW)
    other = sqlite3.connect(tmp_path / STORE_FILE, isolation_level=None, timeout=5)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE outbox_message SET last_error = 'touched' WHERE id = ?", (row_id,))
    result: list[object] = []

    def report() -> None:
        try:
            result.append(queries.mark_delivered("vala", 5, NOW))
        except BaseException as exc:
            result.append(exc)
        finally:
            db.close()

    thread = threading.Thread(target=report)
    thread.start()
    thread.join(timeout=0.3)  # it waits for the other connection's lock
    assert result == []
    other.execute("COMMIT")
    other.close()
    thread.join(timeout=10)
    assert len(result) == 1
    assert isinstance(result[0], OutboxMessage), result
    stored = OutboxMessage.get_by_id(row_id)
    assert (stored.delivered_refs, stored.last_error) == ("5", "touched")


@pytest.mark.parametrize(("policy", "state"), [("resend", "queued"), ("fail", "failed")])
def test_recover_sending_after_crash(db: peewee.SqliteDatabase,
                                     policy: queries.SendingPolicy,
                                     state: str) -> None:
    """A row whose PDU was written follows the policy (no grace); one not yet written is
    resent whatever the policy (it cannot have gone out)."""
    queries.enqueue_outbox(PHONE, "in flight", "reply", NOW)
    queries.enqueue_outbox(PHONE, "claimed", "reply", NOW)
    queries.enqueue_outbox(PHONE, "waiting", "alert", NOW)
    row = _claim()
    unsent = _claim()
    assert row is not None
    assert unsent is not None
    sendsteps.mark_pdu_step(row.id)
    done = queries.recover_sending(policy, NOW)
    assert (done.by_policy, done.unsent, done.waiting) == ([row.id], [unsent.id], [])
    recovered = OutboxMessage.get_by_id(row.id)
    assert recovered.state == state
    assert "interrupted" in recovered.last_error
    assert OutboxMessage.get_by_id(unsent.id).state == "queued"
    assert OutboxMessage.get(OutboxMessage.text == "waiting").state == "queued"


def test_unconfirmed_row_settled_by_a_late_report_or_expired(
        db: peewee.SqliteDatabase) -> None:
    """A crash after the PDU: the row waits its grace; a delivered report to its recipient
    through its modem, stamped after the claim, settles it; an older report or another
    recipient does not; with none, the grace ends in the policy. Each row here is the only
    one in doubt to its recipient (one per phone), as a kill leaves them."""
    queries.enqueue_outbox(PHONE, "Pagesa " * 40, "reply", NOW)  # two parts
    queries.enqueue_outbox("+38344000001", "settled", "reply", NOW)
    queries.enqueue_outbox("+38344000002", "expires", "reply", NOW)
    long, first, second = _claim(), _claim(), _claim()
    assert long is not None
    assert first is not None
    assert second is not None
    for row in (long, first, second):
        sendsteps.mark_pdu_step(row.id)
    done = sendsteps.recover_sending("resend", NOW, timedelta(seconds=60))
    assert done.waiting == [long.id, first.id, second.id]
    assert sendsteps.settle_unconfirmed("vala", "+38344999999", 9, NOW, NOW) is None
    assert sendsteps.settle_unconfirmed("other", first.to, 9, NOW, NOW) is None
    assert sendsteps.settle_unconfirmed("vala", first.to, 9, NOW - timedelta(hours=1),
                                        NOW) is None
    assert sendsteps.settle_unconfirmed("vala", PHONE, 9, NOW, NOW) is None  # 1 part of 2
    assert sendsteps.settle_unconfirmed("vala", first.to, 9, NOW, NOW) == first.id
    settled = OutboxMessage.get_by_id(first.id)
    assert (settled.state, settled.send_step, settled.modem_refs) == ("delivered", None, "9")
    assert sendsteps.expire_unconfirmed("resend", NOW + timedelta(seconds=59)) == []
    assert OutboxMessage.get_by_id(long.id).send_step == "unconfirmed"  # never by one part
    assert sendsteps.expire_unconfirmed("resend", NOW + timedelta(seconds=61)) == [
        (long.id, PHONE), (second.id, second.to)]
    expired = OutboxMessage.get_by_id(second.id)
    assert (expired.state, expired.send_step) == ("queued", None)


def test_a_report_settles_only_the_single_row_in_doubt(db: peewee.SqliteDatabase) -> None:
    """Two rows in doubt to one phone through one modem: a report whose reference matched
    nothing cannot say which of them went (settling the other would lose the one that did
    not), so it settles neither and both wait for the policy; nor while another row to
    that phone is in flight (its +CMGS answer not yet recorded: the report may be its)."""
    for text in ("one", "two", "three"):
        queries.enqueue_outbox(PHONE, text, "reply", NOW)
    one, two = _claim(), _claim()
    assert one is not None
    assert two is not None
    for row in (one, two):
        sendsteps.mark_pdu_step(row.id)
    sendsteps.recover_sending("resend", NOW, timedelta(seconds=60))
    assert sendsteps.settle_unconfirmed("vala", PHONE, 5, NOW, NOW) is None
    assert {OutboxMessage.get_by_id(r.id).send_step for r in (one, two)} == {"unconfirmed"}
    queries.mark_sent(two.id, [6], NOW)  # two's answer after all: one alone is in doubt
    three = _claim()
    assert three is not None
    sendsteps.mark_pdu_step(three.id)  # ... but three is on the radio now
    assert sendsteps.settle_unconfirmed("vala", PHONE, 5, NOW, NOW) is None
    queries.mark_sent(three.id, [7], NOW)
    assert sendsteps.settle_unconfirmed("vala", PHONE, 5, NOW, NOW) == one.id


def test_counts_for_status(db: peewee.SqliteDatabase) -> None:
    queries.enqueue_outbox(PHONE, "a", "reply", NOW - timedelta(seconds=90))
    queries.enqueue_outbox(PHONE, "b", "alert", NOW, not_before=NOW + timedelta(hours=1))
    queries.enqueue_outbox(PHONE, "c", "alert", NOW)
    assert _claim() is not None
    queries.store_inbound(modem="vala", pdu="01", sender=PHONE, smsc_time=NOW,
                          received_at=NOW, state="waiting_parts")
    counts = queries.counts_for_status(NOW)
    assert counts["outbox.queued"] == 2
    assert counts["outbox.sending"] == 1
    assert counts["outbox.failed"] == 0
    assert counts["outbox.due"] == 1
    assert counts["outbox.oldest_queued_seconds"] == 0  # "a" is sending; "b" and "c" are new
    assert counts["inbound.waiting_parts"] == 1
    assert counts["topups.pending"] == 0


# --- state, views, misc ---------------------------------------------------------------


def test_state_get_set(db: peewee.SqliteDatabase) -> None:
    assert queries.get_state(queries.STATE_BANK_CURSOR) is None
    assert queries.get_state("x", "dflt") == "dflt"
    queries.set_state(queries.STATE_BANK_CURSOR, "c1")
    queries.set_state(queries.STATE_BANK_CURSOR, "c2")
    assert queries.get_state(queries.STATE_BANK_CURSOR) == "c2"
    assert queries.last_sync_at() is None
    queries.set_last_sync_at(NOW)
    assert queries.last_sync_at() == NOW


def test_sender_view_for_a_known_phone(db: peewee.SqliteDatabase) -> None:
    agreement = _seed_customer()
    queries.set_last_sync_at(NOW - timedelta(minutes=3))
    # NOW is 13:00 in Belgrade; local midnight is 23:00 UTC the day before.
    _order(agreement, "t1", "5", "done", datetime(2026, 11, 26, 23, 30, tzinfo=UTC))
    _order(agreement, "t2", "10.50", "pending", NOW - timedelta(hours=1))
    _order(agreement, "t3", "20", "rejected", NOW - timedelta(hours=1))
    _order(agreement, "t4", "40", "done", datetime(2026, 11, 26, 22, 59, tzinfo=UTC))
    view = queries.sender_view(PHONE, NOW)
    assert isinstance(view, SenderView)
    assert view.agreement.id == "AG1"
    assert view.agreement.language == Language.EN
    assert view.agreement.alert_limit == Decimal("1000")
    assert view.agreement.services == frozenset({"balance", "topup", "alerts"})
    assert [(a.kind, a.balance) for a in view.accounts] == [
        ("current", Decimal("1234.56")), ("savings", Decimal("10.10"))]
    assert view.accounts[0].number == "1110000000001234"
    assert view.last_sync_at == NOW - timedelta(minutes=3)
    assert (view.topups_today_count, view.topups_today_amount) == (2, Decimal("15.50"))
    assert view.bank_reachable is True


def test_sender_view_none_for_unknown_or_inactive(db: peewee.SqliteDatabase) -> None:
    agreement = _seed_customer()
    assert queries.sender_view("+38349000000", NOW) is None
    agreement.active = False
    agreement.save()
    assert queries.sender_view(PHONE, NOW) is None


def test_agreement_without_alert_limit_has_no_alerts(db: peewee.SqliteDatabase) -> None:
    agreement = _seed_customer()
    agreement.alert_limit = None  # type: ignore[assignment]  # a nullable column
    agreement.save()
    assert queries.agreements_for_account("A1")[0].services == frozenset({"balance", "topup"})
    assert queries.agreements_for_account("nope") == []


def test_movement_view(db: peewee.SqliteDatabase) -> None:
    _seed_customer()
    row = Movement.create(id="M1", account="A1", amount=Decimal("-12.50"), type="card_payment",
                          booked_at=NOW, balance_after=Decimal("1222.06"))
    view = queries.movement_view(row)
    assert (view.id, view.account_id, view.amount, view.balance_after) == (
        "M1", "A1", Decimal("-12.50"), Decimal("1222.06"))


def test_unknown_sender_reply_once_per_day(db: peewee.SqliteDatabase) -> None:
    day = queries.local_day(NOW)
    assert day == "2026-11-27"
    assert queries.local_day(datetime(2026, 11, 27, 23, 30, tzinfo=UTC)) == "2026-11-28"
    assert queries.claim_unknown_sender_reply("+38349000000", day, NOW) is True
    with write_transaction():  # inside a caller's transaction, False leaves it usable
        assert queries.claim_unknown_sender_reply("+38349000000", day, NOW) is False
        queries.set_state("still", "works")
    assert queries.get_state("still") == "works"
    assert queries.claim_unknown_sender_reply("+38349000000", "2026-11-28", NOW) is True


def test_record_modem_identity_reports_previous_imsi(db: peewee.SqliteDatabase) -> None:
    assert queries.record_modem_identity("vala", "221010000000001", "35000", NOW) is None
    assert queries.record_modem_identity("vala", "221010000000002", "35000", NOW) == (
        "221010000000001")


def test_prune_keeps_money_and_work_in_flight(db: peewee.SqliteDatabase) -> None:
    agreement = _seed_customer()
    old = NOW - timedelta(days=100)

    def inbound(pdu: str, state: str, at: datetime) -> int:
        row, _ = queries.store_inbound(modem="vala", pdu=pdu, sender=PHONE, smsc_time=at,
                                       received_at=at, state=state)
        return int(row.id)

    done_in = inbound("01", "handled", old)
    order_in = inbound("02", "handled", old)
    waiting_in = inbound("03", "waiting_parts", old)
    new_in = inbound("04", "handled", NOW)
    TopupOrder.create(idempotency_key="k", agreement=agreement, inbound=order_in, target=PHONE,
                      operator="vala", amount=Decimal(5), state="done", created_at=old,
                      updated_at=old)
    sent = queries.enqueue_outbox(PHONE, "old sent", "reply", old, inbound_id=done_in)
    queued = queries.enqueue_outbox(PHONE, "old queued", "alert", old)
    assert sent is not None
    assert queued is not None
    OutboxMessage.update(state="sent").where(OutboxMessage.id == sent.id).execute()
    queries.claim_unknown_sender_reply("+38349000000", "2026-08-19", old)

    deleted = queries.prune(NOW - timedelta(days=90))

    assert deleted == {"outbox": 1, "inbound": 1, "unknown_sender": 1}
    assert {r.id for r in InboundMessage.select()} == {order_in, waiting_in, new_in}
    assert [r.text for r in OutboxMessage.select()] == ["old queued"]
    assert TopupOrder.select().count() == 1
