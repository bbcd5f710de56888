"""A listing's committed messages deleted together (issue 17): one `AT+CMGD=0,1` (every
read message) where every read message in that storage is committed or a status report
handed over, else one by one; never before the commit (invariant 1). The fake modem on a
real pty; the daemon killed between commit and delete over a real SQLite file."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.server import FakeModemServer
from appliance.modem.pdu import decode_deliver
from appliance.modem.wrapper import Modem
from tests.conftest import DaemonProc, Fakes
from tests.helpers import db_rows, stored_messages, wait_for
from tests.test_modem_fake import SENDER, Events, connect, listening


def _server(tmp_path: Path, **config: bool) -> FakeModemServer:
    return FakeModemServer(tmp_path / "ttyFAKE", tmp_path / "state", delay="none",
                           config=ModemConfig(**config)).start()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeModemServer]:
    server = _server(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def modem(fake: FakeModemServer) -> Iterator[tuple[Modem, Events]]:
    yield from listening(fake)


def _deletes(fake: FakeModemServer) -> list[str]:
    return [line for line, _final in fake.history() if line.upper().startswith("AT+CMGD")]


def _texts(fake: FakeModemServer) -> list[str]:
    return [decode_deliver(s.pdu).text for s in fake.stored()]


def _slots(listed: list[object]) -> list[tuple[str, int]]:
    return [(m.storage, m.index) for m in listed]  # type: ignore[attr-defined]


def test_a_listings_committed_messages_go_in_one_bulk_delete(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    m, _ = modem
    for text in ("B", "BK", "L"):
        fake.deliver(SENDER, text)
    listed = m.list_stored()
    assert len(listed) == 3
    assert _deletes(fake) == []  # nothing deleted before the commit
    m.delete_committed(_slots(listed))
    assert fake.stored() == []
    assert _deletes(fake) == ["AT+CMGD=0,1"]


def test_a_message_arriving_between_listing_and_bulk_delete_survives(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    m, _ = modem
    fake.deliver(SENDER, "B")
    fake.deliver(SENDER, "BK")
    listed = m.list_stored()
    fake.deliver(SENDER, "L")  # after the listing: unread, not committed
    m.delete_committed(_slots(listed))
    assert _deletes(fake) == ["AT+CMGD=0,1"]
    assert _texts(fake) == ["L"]
    (later,) = m.list_stored()
    assert decode_deliver(later.pdu).text == "L"
    m.delete_committed(_slots([later]))
    assert fake.stored() == []


def test_a_message_read_alone_and_not_committed_stops_the_bulk_delete(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    """A `+CMGR` (a slot a notice named) reads a customer's message outside the listing:
    it is a read message too, not committed, so the listing's go one by one."""
    m, _ = modem
    fake.deliver(SENDER, "B")
    fake.deliver(SENDER, "BK")
    listed = m.list_stored()
    fake.deliver(SENDER, "L")
    (late,) = [s for s in fake.stored() if decode_deliver(s.pdu).text == "L"]
    read = m.read(late.storage, late.index)
    assert read is not None
    assert decode_deliver(read.pdu).text == "L"
    m.delete_committed(_slots(listed))
    assert _texts(fake) == ["L"]
    assert _deletes(fake) == [f"AT+CMGD={s.index}" for s in listed]


def test_one_committed_message_alone_is_deleted_by_its_slot(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    m, _ = modem
    fake.deliver(SENDER, "B")
    (msg,) = m.list_stored()
    m.delete_committed(_slots([msg]))
    assert fake.stored() == []
    assert _deletes(fake) == [f"AT+CMGD={msg.index}"]


def test_the_bulk_delete_takes_the_handed_over_reports_with_the_messages(
        fake: FakeModemServer, modem: tuple[Modem, Events]) -> None:
    m, events = modem
    m.send(SENDER, "raporto")
    wait_for(lambda: m.reports_held == 1, timeout=10, what="the +CDSI noted")
    fake.deliver(SENDER, "B")
    (msg,) = m.list_stored()  # the report read by the same listing, handed over
    assert len(events.reports) == 1
    m.delete_committed(_slots([msg]))
    assert fake.stored() == []
    assert _deletes(fake) == ["AT+CMGD=0,1"]
    assert m.reports_held == 0


@pytest.mark.parametrize("how", ["ignored", "refused"])
def test_a_modem_that_ignores_or_refuses_the_bulk_delete_still_ends_empty(
        tmp_path: Path, how: str) -> None:
    """Ignored (`OK`, nothing deleted): the next listing finds the committed messages
    still there, read, and from then on the modem deletes one by one (the inbox
    dedupes the copies it reads again). Refused (`ERROR`): one by one at once."""
    fake = _server(tmp_path, cmgd_flags=how == "refused")
    m = connect(fake, Events())
    try:
        if how == "refused":
            fake.fault("error", match="+CMGD")  # the first delete: the bulk one
        for text in ("B", "BK"):
            fake.deliver(SENDER, text)
        listed = m.list_stored()
        m.delete_committed(_slots(listed))
        if how == "ignored":
            assert _texts(fake) == ["B", "BK"]  # told OK, deleted nothing
            again = m.list_stored()
            assert _slots(again) == _slots(listed)  # the inbox stores them again: no-ops
            m.delete_committed(_slots(again))
        assert fake.stored() == []
        for text in ("L", "BK"):
            fake.deliver(SENDER, text)
        listed = m.list_stored()
        m.delete_committed(_slots(listed))
        assert fake.stored() == []
        bulk = [d for d in _deletes(fake) if d == "AT+CMGD=0,1"]
        assert len(bulk) == 1  # tried once, never again on this modem
        assert len(_deletes(fake)) == 1 + 4  # then each message by its slot
    finally:
        m.close()
        fake.stop()


def test_kill_between_commit_and_bulk_delete_loses_and_doubles_nothing(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    """Killed after the commit of a listing, before its bulk delete: the messages are
    still on the modem, read; the next start reads them again (no-ops by their dedupe
    keys), answers each once and deletes them together."""
    asks = [(f"+3834412345{i}", "B") for i in range(4)]
    fakes.config()
    for phone, text in asks:
        fakes.deliver(phone, text)
    daemon_proc.start(crash_at="after_store")
    assert daemon_proc.wait_exit(timeout=30) == -signal.SIGKILL
    assert "crash point after_store reached" in daemon_proc.log_file.read_text("utf-8")
    assert len(stored_messages(fakes.modem)) == len(asks)  # committed, not deleted
    assert _deletes(fakes.modem) == []
    daemon_proc.start()
    wait_for(lambda: all(fakes.sent_to(p) for p, _ in asks), timeout=30,
             what="every message answered")
    wait_for(lambda: stored_messages(fakes.modem) == [], timeout=10, what="an empty modem")
    assert daemon_proc.stop() == 0
    for phone, _ in asks:
        assert len(fakes.sent_to(phone)) == 1, f"{phone[:6]}... answered twice"
    rows = db_rows(fakes.store, "SELECT state FROM inbound_message")
    assert [r[0] for r in rows] == ["handled"] * len(asks)
    assert "AT+CMGD=0,1" in _deletes(fakes.modem)



def test_a_message_of_unknown_status_or_an_unreadable_header_keeps_the_bulk_delete_off(
        ) -> None:
    """What the inbox does not commit must not be taken by `AT+CMGD=0,1`: a message whose
    status we do not know may be a read one; a listing that named a message we could not
    parse (`parse_cmgl` skips a header without an index) is not whole."""
    from appliance.modem.at_answers import cmgl_headers, parse_cmgl
    from appliance.modem.reports import HeldReports
    from appliance.modem.types import StoredMessage

    held = HeldReports()
    held.listed("SM", [StoredMessage("SM", 1, 1, "00"), StoredMessage("SM", 2, 3, "00")])
    assert held.bulk_safe("SM", frozenset({1}))  # a sent one stored (3) is left by it
    held.listed("SM", [StoredMessage("SM", 1, 1, "00"), StoredMessage("SM", 2, -1, "00")])
    assert not held.bulk_safe("SM", frozenset({1}))
    lines = ["+CMGL: 1,1,,20", "0791", "+CMGL: ,1,,20", "0791"]
    assert len(parse_cmgl("SM", lines)) == 1
    assert cmgl_headers(lines) == 2
    held.listed("SM", [StoredMessage("SM", 1, 1, "00")])
    assert held.bulk_safe("SM", frozenset({1}))
    held.unsure("SM")
    assert not held.bulk_safe("SM", frozenset({1}))
