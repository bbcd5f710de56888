"""Acceptance: `appliance fake-modem deliver --from` as a tester types it (DESIGN §9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.fakemodem.server import FakeModemServer


@pytest.fixture
def modem(tmp_path: Path) -> Iterator[FakeModemServer]:
    with FakeModemServer(tmp_path / "modem", tmp_path / "state", delay="none") as server:
        yield server


def deliver(modem: FakeModemServer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["fake-modem", "deliver", "--state-dir", str(modem.state_dir), *args],
        catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def senders(modem: FakeModemServer) -> list[str]:
    result = CliRunner().invoke(
        main, ["fake-modem", "storage", "--state-dir", str(modem.state_dir), "--json"],
        catch_exceptions=False)
    return [json.loads(line)["from"] for line in result.stdout.splitlines()]


def test_a_number_written_with_blanks_is_that_number(modem: FakeModemServer) -> None:
    code, out, _err = deliver(modem, "--from", "+383 44 123 456", "B")
    assert code == 0
    assert "+38344123456" in out
    assert senders(modem) == ["+38344123456"]


def test_an_alphanumeric_sender_is_kept(modem: FakeModemServer) -> None:
    assert deliver(modem, "--from", "Vala", "Mirë se vini")[0] == 0
    assert senders(modem) == ["Vala"]


@pytest.mark.parametrize("sender", ["", "  ", "A name far too long"])
def test_an_impossible_sender_is_bad_usage(modem: FakeModemServer, sender: str) -> None:
    code, out, err = deliver(modem, "--from", sender, "B")
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("--from:")
    assert modem.stored() == []


def fault(modem: FakeModemServer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["fake-modem", "fault", "--state-dir", str(modem.state_dir), *args],
        catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("args", "names"), [
    (["bogus"], "KIND:"),
    (["cms-error", "code=abc"], "code:"),
    (["late", "delay=soon"], "delay:"),
    (["sim-full", "storage=XX"], "storage:"),
    (["error", "wat=1"], "wat:"),
])
def test_a_bad_fault_is_bad_usage_naming_it(modem: FakeModemServer, args: list[str],
                                            names: str) -> None:
    code, out, err = fault(modem, *args)
    assert code == 2  # bad usage, not "the modem refused" (1)
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(names)


def test_every_documented_fault_kind_is_accepted(modem: FakeModemServer) -> None:
    assert "vanish" in fault(modem, "bogus")[2]  # the list names every kind
    assert fault(modem, "cms-error", "code=331", "match=+CMGS", "count=2")[0] == 0
    assert fault(modem, "signal", "value=5")[0] == 0
    assert modem.status()["faults"]
