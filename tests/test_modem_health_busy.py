"""Issue 17: the health check costs no radio time while the modem is busy. A modem that
answered a command within the check interval is not pinged, and its facts are asked at
most every `busy_facts_interval`; an idle one is checked as before. Its identity is asked
once per link. Over a real pty to the fake modem."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.server import FakeModemServer
from appliance.modem.health import Health, HealthPolicy
from appliance.modem.pool import ModemHandle, Pool
from appliance.modem.wrapper import Modem
from tests.helpers import wait_for


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeModemServer]:
    with FakeModemServer(tmp_path / "tty", tmp_path / "state") as server:
        yield server


def _pings(fake: FakeModemServer) -> int:
    return sum(1 for line, _ in fake.history() if line == "AT")


def _health(fake: FakeModemServer, checked: list[str]) -> tuple[Health, ModemHandle]:
    handle = ModemHandle("m1", "vala", lambda _h: Modem(str(fake.link), command_timeout=3))
    handle.open()
    policy = HealthPolicy(check_interval=0.3, busy_facts_interval=60.0, tick=0.05)
    health = Health(Pool([handle], ()), policy, threading.Event(),
                    on_recovered=lambda _h: None,
                    on_checked=lambda h: checked.append(h.name))
    return health, handle


def test_a_busy_modem_is_not_pinged_and_its_facts_are_asked_rarely(
        fake: FakeModemServer) -> None:
    checked: list[str] = []
    health, handle = _health(fake, checked)
    try:
        before = _pings(fake)
        pause = threading.Event()
        for _ in range(30):  # 1.5 s of traffic: five check intervals
            handle.call(lambda m: m.signal())  # the modem answers all the time
            health.tick()
            pause.wait(0.05)
        assert _pings(fake) - before <= 1  # at most the first check
        assert len(checked) <= 1
    finally:
        handle.close()


def test_an_idle_modem_is_pinged_every_interval(fake: FakeModemServer) -> None:
    checked: list[str] = []
    health, handle = _health(fake, checked)
    try:
        before = _pings(fake)
        pause = threading.Event()

        def pinged_twice() -> bool:
            health.tick()
            pause.wait(0.05)
            return _pings(fake) - before >= 2

        wait_for(pinged_twice, 5, what="two liveness checks of an idle modem")
        assert len(checked) >= 2
    finally:
        handle.close()


def test_the_identity_is_asked_once_per_link(fake: FakeModemServer) -> None:
    with Modem(str(fake.link), command_timeout=3) as modem:
        first = modem.info()
        assert modem.info() == first
        lines = [line for line, _ in fake.history()]
        assert lines.count("AT+CGMI") == 1
        assert modem.imsi() == first.imsi  # the SIM's IMSI: asked every time
        assert [line for line, _ in fake.history()].count("AT+CIMI") == 2
        modem.reopen()
        modem.info()
        assert [line for line, _ in fake.history()].count("AT+CGMI") == 2



def test_while_sending_the_facts_wait_for_a_pause_up_to_their_longest_wait(
        fake: FakeModemServer) -> None:
    """Issue 17: a run of sends (`ModemHandle.backlog`) puts the facts off (the first
    asking too) past `busy_facts_interval`, up to `sending_facts_interval` since they were
    last asked or first looked at; a pause lets them be asked."""
    import time

    checked: list[str] = []
    handle = ModemHandle("m1", "vala", lambda _h: Modem(str(fake.link), command_timeout=3))
    handle.open()
    policy = HealthPolicy(check_interval=0.1, busy_facts_interval=1.0,
                          sending_facts_interval=3.0, tick=0.05)
    health = Health(Pool([handle], ()), policy, threading.Event(),
                    on_recovered=lambda _h: None,
                    on_checked=lambda h: checked.append(h.name))
    pause = threading.Event()
    start = time.monotonic()

    def busy_until(at: float, *, sending: bool, stop_at: int | None = None) -> None:
        handle.backlog = sending
        while time.monotonic() - start < at and len(checked) != stop_at:
            handle.call(lambda m: m.signal())
            health.tick()
            pause.wait(0.02)

    try:
        busy_until(0.5, sending=True)
        assert checked == []  # put off from the first look on
        busy_until(2.0, sending=False, stop_at=1)  # a pause: asked at once
        assert len(checked) == 1
        asked = time.monotonic() - start
        busy_until(asked + 1.8, sending=True)  # past busy_facts_interval, still sending
        assert len(checked) == 1
        busy_until(asked + 6.0, sending=True, stop_at=2)  # the longest wait: asked anyway
        assert len(checked) == 2
        assert time.monotonic() - start > asked + 2.5
    finally:
        handle.close()
