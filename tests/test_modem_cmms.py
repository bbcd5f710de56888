"""Issue 17: `AT+CMMS=2` keeps the relay link open through a run of sends, and the fake
modem's realistic model charges the link set-up only to the first send of a run (27.005
§3.5.6), over a real pty."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.atclient import AtPort
from appliance.fakemodem.model import LINK_SETUP, DelayModel, ModemConfig
from appliance.fakemodem.server import FakeModemServer
from appliance.modem.wrapper import Modem

SCALE = 0.1  # a 3 s send takes 300 ms, and so does the 3 s link timeout: at 0.01 a loaded
# machine pausing 30 ms between two sends closed the link and failed the run-of-sends test


def realistic(tmp_path: Path, config: ModemConfig | None = None) -> FakeModemServer:
    return FakeModemServer(tmp_path / "tty", tmp_path / "state", "realistic", seed=5,
                           time_scale=SCALE, config=config)


def draws(n: int) -> list[float]:
    """The model's first `n` +CMGS times (model seconds) for seed 5, link not kept."""
    model = DelayModel("realistic", 5)
    return [model.submit() for _ in range(n)]


def sends(fake: FakeModemServer) -> list[float]:
    return [b.seconds for b in fake.timeline() if b.command == "<message>"]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeModemServer]:
    with realistic(tmp_path) as server:
        yield server


def test_a_run_of_sends_pays_the_link_set_up_once(fake: FakeModemServer) -> None:
    with Modem(str(fake.link), command_timeout=3.0) as modem:
        for i in range(4):
            modem.send(f"+3834410000{i}", "Bilanci: 1,00 EUR", more=True)
    lines = [line for line, _ in fake.history()]
    assert lines.count("AT+CMMS=2") == 1  # once per link, not per send
    assert lines.index("AT+CMMS=2") < next(i for i, line in enumerate(lines)
                                           if line.startswith("AT+CMGS"))
    full = draws(4)
    # the first send sets the link up; the next three find it open
    assert sends(fake) == pytest.approx([full[0], *(t - LINK_SETUP for t in full[1:])])


def test_without_more_to_send_the_link_is_not_kept(fake: FakeModemServer) -> None:
    with Modem(str(fake.link), command_timeout=3.0) as modem:
        for i in range(3):
            modem.send(f"+3834410000{i}", "Bilanci: 1,00 EUR")
    assert not any(line.startswith("AT+CMMS") for line, _ in fake.history())
    assert sends(fake) == pytest.approx(draws(3))


def test_a_long_message_keeps_the_link_between_its_parts(fake: FakeModemServer) -> None:
    with Modem(str(fake.link), command_timeout=3.0) as modem:
        refs = modem.send("+38344100001", "x" * 400)  # three parts of 153
    assert len(refs.refs) == 3
    assert [line for line, _ in fake.history()].count("AT+CMMS=2") == 1
    full = draws(3)
    assert sends(fake) == pytest.approx([full[0], full[1] - LINK_SETUP,
                                         full[2] - LINK_SETUP])


def test_the_link_closes_after_the_timeout(fake: FakeModemServer) -> None:
    with Modem(str(fake.link), command_timeout=3.0) as modem:
        modem.send("+38344100001", "one", more=True)
        # longer than the 3 s (model) link timeout: the next send sets it up again
        threading.Event().wait(6 * SCALE + 0.05)
        modem.send("+38344100002", "two", more=True)
        modem.send("+38344100003", "three", more=True)
    full = draws(3)
    assert sends(fake) == pytest.approx([full[0], full[1], full[2] - LINK_SETUP])


def test_a_modem_that_refuses_cmms_is_sent_without_it_once(tmp_path: Path) -> None:
    with realistic(tmp_path, ModemConfig(cmms=False)) as fake:
        with Modem(str(fake.link), command_timeout=3.0) as modem:
            for i in range(3):
                modem.send(f"+3834410000{i}", "Bilanci: 1,00 EUR", more=True)
        history = fake.history()
    assert [final for line, final in history if line.startswith("AT+CMMS")] == ["ERROR"]
    assert sum(1 for line, final in history if line.startswith("AT+CMGS")) == 3
    assert sends(fake) == pytest.approx(draws(3))


def test_the_fake_modem_answers_cmms_as_27005_says(tmp_path: Path) -> None:
    with FakeModemServer(tmp_path / "tty", tmp_path / "state") as fake, \
            AtPort(fake.link) as port:
        assert b"+CMMS: (0-2)" in port.command("AT+CMMS=?")
        assert b"+CMMS: 0" in port.command("AT+CMMS?")
        port.command("AT+CMMS=2")
        assert b"+CMMS: 2" in port.command("AT+CMMS?")
        assert b"ERROR" in port.command("AT+CMMS=3")
        port.command("ATZ")  # the profile is reset, <n> with it
        assert b"+CMMS: 0" in port.command("AT+CMMS?")
