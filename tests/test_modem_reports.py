"""Stored status reports taken when they cost the radio least (issue 17 on issue 16's
ds=2): a `+CDSI` only notes its slot; the report is read by the next listing (no
`+CMGR`), or when the modem would idle, or at once when `HOLD_MAX` are held. The fake
modem on a real pty; the daemon's idle path end to end with a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.pdu import message_type
from appliance.fakemodem.server import FakeModemServer
from appliance.modem.pdu import decode_deliver
from appliance.modem.reports import BULK_AT, HOLD_DIRECT, HOLD_HARD, HOLD_MAX
from appliance.modem.wrapper import Modem
from tests.conftest import DaemonProc, Fakes
from tests.helpers import db_rows, wait_for
from tests.test_modem_fake import SENDER, Events, connect, listening


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeModemServer]:
    server = FakeModemServer(tmp_path / "ttyFAKE", tmp_path / "state", delay="none")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def storing(tmp_path: Path) -> Iterator[FakeModemServer]:
    """A modem that refuses routed reports (ds=1): direct delivery falls back to stored
    ones (ds=2), the path these tests cover in direct mode."""
    server = FakeModemServer(tmp_path / "ttySTORE", tmp_path / "store-state", delay="none",
                             config=ModemConfig(routed_reports=False))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def modem(fake: FakeModemServer) -> Iterator[tuple[Modem, Events]]:
    yield from listening(fake)


def _reports(fake: FakeModemServer) -> int:
    return sum(1 for s in fake.stored() if message_type(s.pdu) == "status-report")


def _commands(fake: FakeModemServer, name: str) -> int:
    return sum(1 for b in fake.timeline() if b.command == name)


def test_a_noted_report_is_read_by_the_next_listing_and_deleted_when_idle(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    m, events = modem
    result = m.send(SENDER, "raporto")
    wait_for(lambda: m.reports_held == 1, timeout=10, what="the +CDSI noted")
    assert events.reports == []
    assert _commands(fake, "+CMGR") == 0
    fake.deliver(SENDER, "B")
    listed = m.list_stored()
    assert [decode_deliver(s.pdu).text for s in listed] == ["B"]  # the inbox's, only
    assert [r.ref for r in events.reports] == [result.refs[0]]
    assert _commands(fake, "+CMGR") == 0  # the listing read it
    assert _reports(fake) == 1  # its delete left for an idle moment
    assert [decode_deliver(s.pdu).text for s in m.list_stored()] == ["B"]
    assert len(events.reports) == 1  # a second listing does not hand it over again
    assert m.collect_reports()
    assert _reports(fake) == 0
    assert _commands(fake, "+CMGR") == 0
    assert m.reports_held == 0
    assert not m.collect_reports()


def test_b_collect_reads_and_deletes_the_noted_reports(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    m, events = modem
    refs = [m.send(SENDER, f"raporto {i}").refs[0] for i in range(2)]
    wait_for(lambda: m.reports_held == 2, timeout=10, what="both +CDSI noted")
    assert events.reports == []
    assert m.collect_reports()
    assert sorted(r.ref for r in events.reports) == sorted(refs)
    assert _reports(fake) == 0
    assert events.new == []


def test_c_reports_are_taken_at_once_when_hold_max_are_held(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    m, events = modem
    for i in range(HOLD_MAX - 1):
        m.send(SENDER, f"raporto {i}")
    wait_for(lambda: m.reports_held == HOLD_MAX - 1, timeout=10, what="the +CDSI noted")
    assert events.reports == []
    assert _reports(fake) == HOLD_MAX - 1
    m.send(SENDER, "one more")
    wait_for(lambda: len(events.reports) == HOLD_MAX, timeout=10, what="all taken at once")
    wait_for(lambda: _reports(fake) == 0, timeout=10, what="their slots freed")
    # the notice thread forgets the slots just after the modem's OK: not at once
    wait_for(lambda: m.reports_held == 0, timeout=10, what="the slots forgotten")


def test_c_a_listing_deletes_the_handed_over_reports_when_hold_max_are_held(
        fake: FakeModemServer, tmp_path: Path) -> None:
    events = Events()
    m = connect(fake, events)
    m.close()  # the reports come while nobody listens: each waits stored, unnoted
    other = connect(fake, Events())
    try:
        for i in range(HOLD_MAX):
            other.send(SENDER, f"raporto {i}")
    finally:
        other.close()
    wait_for(lambda: _reports(fake) == HOLD_MAX, timeout=10, what="the reports stored")
    m = connect(fake, events)
    try:
        assert m.list_stored() == []
        assert len(events.reports) == HOLD_MAX
        assert _reports(fake) == 0  # so many held: deleted in that session
    finally:
        m.close()


def test_b_the_daemon_settles_a_report_when_the_outbox_idles(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    """No listing comes (the inbox polls every 300 s, nothing more arrives): the report
    of the reply is read and deleted because the outbox has nothing due."""
    fakes.config(inbox={"poll_interval": 300})
    daemon_proc.start()
    fakes.deliver(SENDER, "B")
    db = fakes.store
    wait_for(lambda: len(fakes.sent_to(SENDER)) == 1, timeout=30, what="the reply sent")
    wait_for(lambda: db_rows(db, "SELECT state FROM outbox_message") == [("delivered",)],
             timeout=15, what="the reply settled by its stored report")
    wait_for(lambda: _reports(fakes.modem) == 0, timeout=10, what="the report deleted")
    assert daemon_proc.stop() == 0
    assert len(fakes.sent_to(SENDER)) == 1


def test_c_held_reports_go_in_one_bulk_delete_of_read_messages(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    m, events = modem
    m.list_stored()  # the storage listed on this link: every read message in it is known
    for i in range(HOLD_MAX):
        m.send(SENDER, f"raporto {i}")
    wait_for(lambda: len(events.reports) == HOLD_MAX, timeout=10, what="all taken at once")
    wait_for(lambda: _reports(fake) == 0, timeout=10, what="their slots freed")
    assert _commands(fake, "+CMGR") == 0  # one listing read them
    assert _commands(fake, "+CMGD") == 1  # one AT+CMGD=0,1, no delete slot by slot


def test_a_customers_message_listed_and_not_deleted_stops_the_bulk_delete(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    """Invariant 1: a message read by a listing but not committed (so not deleted) yet is
    a read message too; while one is, the reports wait for its delete (then go in one
    bulk delete), or beyond `HOLD_HARD` are deleted one by one."""
    m, events = modem
    fake.deliver(SENDER, "B")
    (msg,) = m.list_stored()  # read now; the inbox has not committed it
    for i in range(HOLD_MAX):
        m.send(SENDER, f"raporto {i}")
    wait_for(lambda: len(events.reports) == HOLD_MAX, timeout=10, what="all taken")
    assert _reports(fake) == HOLD_MAX  # held: a bulk delete now would take B
    assert _commands(fake, "+CMGD") == 0
    for i in range(HOLD_HARD - HOLD_MAX):
        m.send(SENDER, f"raporto {i}")
    wait_for(lambda: _reports(fake) == 0, timeout=10, what="deleted one by one")
    assert _commands(fake, "+CMGD") == HOLD_HARD
    assert [decode_deliver(s.pdu).text for s in fake.stored()] == ["B"]
    for i in range(BULK_AT):
        m.send(SENDER, f"raporto {i}")
    wait_for(lambda: m.reports_held == BULK_AT, timeout=10, what="the +CDSI noted")
    m.list_stored()  # B again (not committed yet) and the reports
    m.delete(msg.storage, msg.index)  # committed: a bulk delete is safe now
    assert fake.stored() == []
    assert _commands(fake, "+CMGD") == HOLD_HARD + 2  # B's, then one bulk delete


def test_after_a_reopen_no_bulk_delete_before_a_listing(fake: FakeModemServer) -> None:
    """A read message an earlier run listed and never committed may wait on the modem:
    on a new link, no bulk delete until a listing has seen the storage."""
    events = Events()
    fake.deliver(SENDER, "B")
    m = connect(fake, events)
    assert len(m.list_stored()) == 1  # read, then the daemon dies before its commit
    m.close()
    m = connect(fake, events)
    try:
        for i in range(HOLD_MAX):
            m.send(SENDER, f"raporto {i}")
        wait_for(lambda: len(events.reports) == HOLD_MAX, timeout=10, what="all taken")
        assert m.collect_reports()  # the modem idle: B was listed (read) just now
        assert _commands(fake, "+CMGD") == 0
        assert _reports(fake) == HOLD_MAX
        (msg,) = m.list_stored()  # the inbox takes B, commits it, deletes it
        m.delete(msg.storage, msg.index)
        assert fake.stored() == []
        assert _commands(fake, "+CMGD") == 2  # B's, then one bulk delete
        events.reports.clear()
    finally:
        m.close()


def test_direct_a_storage_holding_only_reports_is_not_listed_again(
        storing: FakeModemServer) -> None:
    """Direct delivery lists a storage only when something new may be there: reports
    held for their delete (tracked apart) do not make every listing walk it."""
    events = Events()
    m = connect(storing, events, receive="direct")
    try:
        assert m.direct
        assert m.cnmi == "2,2,0,2,0"
        m.send(SENDER, "raporto")
        wait_for(lambda: m.reports_held == 1, timeout=10, what="the +CDSI noted")
        assert m.list_stored() == []  # the first listing of a link walks every storage
        assert len(events.reports) == 1
        listings = _commands(storing, "+CMGL")
        assert m.list_stored() == []
        assert _commands(storing, "+CMGL") == listings
    finally:
        m.close()


def test_the_inboxs_last_delete_frees_bulk_at_reports_in_one_bulk_delete(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    """Stored mode in a burst: the listing reads the reports with the messages; once the
    inbox has deleted the last message it listed, one `AT+CMGD=0,1` frees them."""
    m, events = modem
    for i in range(BULK_AT):
        m.send(SENDER, f"raporto {i}")
    wait_for(lambda: m.reports_held == BULK_AT, timeout=10, what="the +CDSI noted")
    fake.deliver(SENDER, "B")
    (msg,) = m.list_stored()
    assert len(events.reports) == BULK_AT
    assert _reports(fake) == BULK_AT  # B listed, not committed: no bulk delete yet
    m.delete(msg.storage, msg.index)  # committed and deleted
    assert fake.stored() == []
    assert _commands(fake, "+CMGD") == 2  # B's, and one for all the reports
    assert m.reports_held == 0


def test_a_new_report_read_in_a_freed_slot_keeps_the_bulk_delete(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    """A slot a bulk delete freed gets a new report, read alone (`+CMGR`: read now);
    a listing that shows it read is no sign that the modem ignored the bulk delete."""
    m, events = modem
    m.list_stored()
    for i in range(HOLD_MAX):
        m.send(SENDER, f"raporto {i}")
    wait_for(lambda: _reports(fake) == 0, timeout=10, what="the first bulk delete")
    m.send(SENDER, "one more")
    wait_for(lambda: m.reports_held == 1, timeout=10, what="the +CDSI noted")
    assert m.collect_reports()  # read alone, then deleted alone
    for i in range(HOLD_MAX):
        m.send(SENDER, f"raporto {i}")
    wait_for(lambda: m.reports_held == HOLD_MAX - 1 or _reports(fake) == 0, timeout=10,
             what="the reports noted")
    fake.deliver(SENDER, "B")
    (msg,) = m.list_stored()
    m.delete(msg.storage, msg.index)
    wait_for(lambda: len(events.reports) == 2 * HOLD_MAX + 1, timeout=10, what="all taken")
    wait_for(lambda: _reports(fake) == 0, timeout=10, what="their slots freed")
    assert _commands(fake, "+CMGD") <= 1 + 1 + 1 + 2  # bulk, alone, B's, at most 2 bulk


def test_direct_reports_are_held_to_hold_direct_then_taken_in_one_listing(
        storing: FakeModemServer) -> None:
    """Direct delivery stores no customer's message: the storage holds reports alone, so
    more wait (`HOLD_DIRECT`, room left for what the modem stores if it gives up on an
    acknowledgement) and each taking (a listing, a bulk delete) serves more of them."""
    events = Events()
    m = connect(storing, events, receive="direct")
    try:
        assert m.list_stored() == []  # the walk after the init
        for i in range(HOLD_DIRECT - 1):
            m.send(SENDER, f"raporto {i}")
        wait_for(lambda: m.reports_held == HOLD_DIRECT - 1, timeout=10, what="noted")
        assert HOLD_MAX < HOLD_DIRECT - 1
        assert _reports(storing) == HOLD_DIRECT - 1  # not taken at HOLD_MAX
        assert events.reports == []
        listings = _commands(storing, "+CMGL")
        m.send(SENDER, "one more")
        wait_for(lambda: len(events.reports) == HOLD_DIRECT, timeout=10, what="all taken")
        wait_for(lambda: _reports(storing) == 0, timeout=10, what="their slots freed")
        assert _commands(storing, "+CMGL") == listings + 1
        assert _commands(storing, "+CMGD") == 1
        assert ModemConfig().sm_capacity > HOLD_DIRECT
    finally:
        m.close()
