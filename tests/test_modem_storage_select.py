"""Issue 17: the wrapper chooses the read/delete storage (`AT+CPMS`) once and sends it
again only when the modem may have forgotten it, counted in the fake modem's history
over a real pty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.server import FakeModemServer
from appliance.modem.errors import CmsError
from appliance.modem.walk import StorageWalk
from appliance.modem.wrapper import Modem
from tests.helpers import wait_for


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeModemServer]:
    with FakeModemServer(tmp_path / "ttyFAKE", tmp_path / "state") as server:
        yield server


@pytest.fixture
def modem(fake: FakeModemServer) -> Iterator[Modem]:
    m = Modem(str(fake.link), command_timeout=3.0)
    m.open()
    yield m
    m.close()


def cycle(fake: FakeModemServer, modem: Modem, senders: int, start: int = 0) -> list[str]:
    """Deliver, list once, delete each; the command lines the modem got meanwhile."""
    before = len(fake.history())
    for i in range(senders):
        fake.deliver(f"+3834412{start + i:04d}", "B")
    assert fake.wait_idle()
    stored = modem.list_stored()
    assert len(stored) == senders
    for s in stored:
        modem.delete(s.storage, s.index)
    return [line for line, _ in fake.history()[before:]]


def cpms(lines: list[str]) -> list[str]:
    return [line for line in lines if line.upper().startswith("AT+CPMS=")]


def test_no_storage_switch_per_message(fake: FakeModemServer, modem: Modem) -> None:
    assert modem.storages == ("SM", "ME")
    cycle(fake, modem, 2)
    lines = cycle(fake, modem, 5, start=10)
    # SM is still selected: its list and its five deletes need no +CPMS (was one per
    # list and storage and one per delete: 7), and ME, empty at the last look and named
    # by no notice since, is not walked
    assert cpms(lines) == []
    assert [line for line in lines if line.startswith("AT+CMGL")] == ["AT+CMGL=4"]
    assert len([line for line in lines if line.startswith("AT+CMGD")]) == 5
    # the listing still gives SM's messages before ME's, in the modem's order
    assert [s.storage for s in modem.list_stored()] == []


def test_a_notice_naming_another_storage_has_it_walked(fake: FakeModemServer,
                                                       modem: Modem) -> None:
    cycle(fake, modem, 1)
    fake.deliver("+38344120009", "B", storage="ME")
    stored = wait_for(modem.list_stored, 5, what="the ME message listed")
    assert [s.storage for s in stored] == ["ME"]
    modem.delete("ME", stored[0].index)
    assert modem.list_stored() == []


def test_every_storage_is_walked_after_init_and_periodically() -> None:
    now = [0.0]
    walk = StorageWalk(full_every=60.0, clock=lambda: now[0])
    walk.reset(("SM", "ME"))
    assert walk.take() == ("SM", "ME")
    assert walk.take() == ("SM",)
    walk.found("ME")  # still held messages
    assert walk.take() == ("SM", "ME")
    walk.notice("ME")
    assert walk.take() == ("SM", "ME")
    assert walk.take() == ("SM",)
    now[0] = 61.0  # a lost notice (a full storage sends none) is found within a minute
    assert walk.take() == ("SM", "ME")
    assert walk.take() == ("SM",)


def test_a_failed_command_makes_the_storage_asked_again(fake: FakeModemServer,
                                                       modem: Modem) -> None:
    cycle(fake, modem, 1)
    fake.fault("cms-error", match="+CMGD", code=500, count=1)
    fake.deliver("+38344120001", "B")
    assert fake.wait_idle()
    stored = modem.list_stored()
    with pytest.raises(CmsError):
        modem.delete(stored[0].storage, stored[0].index)
    before = len(fake.history())
    modem.delete(stored[0].storage, stored[0].index)
    assert cpms([line for line, _ in fake.history()[before:]]) == ['AT+CPMS="SM"']
    assert modem.list_stored() == []


def test_storage_usage_asks_the_modem_every_time(fake: FakeModemServer,
                                                 modem: Modem) -> None:
    cycle(fake, modem, 1)
    fake.deliver("+38344120002", "B")
    assert fake.wait_idle()
    assert modem.storage_usage()["SM"][0] == 1
    fake.deliver("+38344120003", "B")
    assert fake.wait_idle()
    assert modem.storage_usage()["SM"][0] == 2


def test_a_storage_listed_whole_for_its_reports_is_not_walked_again_when_due() -> None:
    """Direct delivery: a listing made to take status reports is that storage's periodic
    walk (issue 17); the other storage is still walked when due."""
    now = [0.0]
    walk = StorageWalk(full_every=60.0, clock=lambda: now[0])
    walk.reset(("SM", "ME"))
    assert walk.take(always_first=False) == ("SM", "ME")
    assert not walk.due(always_first=False)
    now[0] = 50.0
    walk.walked("SM")
    now[0] = 61.0
    assert walk.due(always_first=False)
    assert walk.take(always_first=False) == ("ME",)
    assert not walk.due(always_first=False)
    now[0] = 111.0
    assert walk.take(always_first=False) == ("SM",)


def test_the_periodic_walk_waits_while_a_run_of_sends_is_on() -> None:
    now = [0.0]
    walk = StorageWalk(full_every=60.0, clock=lambda: now[0], busy_every=300.0)
    walk.reset(("SM", "ME"))
    assert walk.take() == ("SM", "ME")
    walk.sending = True
    now[0] = 61.0
    assert walk.take() == ("SM",)  # ME's walk waits for the end of the run
    walk.notice("ME")  # a notice naming it is no periodic walk: at once
    assert walk.take() == ("SM", "ME")
    now[0] = 121.0
    assert walk.take() == ("SM",)
    now[0] = 420.0  # at most busy_every without a walk, sends or not
    assert walk.take() == ("SM", "ME")
    now[0] = 481.0
    assert walk.take() == ("SM",)
    walk.sending = False  # the run is over: the walk is due as usual
    assert walk.take() == ("SM", "ME")


def test_a_run_of_sends_defers_the_walk_until_the_modem_would_idle(
        fake: FakeModemServer, modem: Modem) -> None:
    modem.send("+38344120001", "1", more=True)
    assert modem._walk.sending
    modem.collect_reports()  # the outbox found nothing to send
    assert not modem._walk.sending
