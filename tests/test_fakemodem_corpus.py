"""Every captured PDU in ../shared/corpus/real-pdus can be stored with `deliver --pdu` and
read back verbatim with +CMGR (and +CMGL) over the pty. The captures are read in place."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.fakemodem import pdu as codec
from appliance.fakemodem.atclient import AtPort
from appliance.fakemodem.cli import fake_modem
from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.server import FakeModemServer
from tests.helpers import corpus_dir

CORPUS = corpus_dir()
DUMPS = sorted(CORPUS.glob("decodes/*.dump")) + sorted(CORPUS.glob("fails/*.dump"))


def captured_pdu(dump: Path) -> str:
    """The PDU line of an `AT+CMGR` capture, exactly as the modem printed it."""
    lines = [x.strip() for x in dump.read_text(encoding="latin-1").splitlines()]
    head = next(i for i, x in enumerate(lines) if x.startswith("+CMGR:"))
    return lines[head + 1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FakeModemServer]:
    config = ModemConfig(sm_capacity=len(DUMPS) + 5)
    with FakeModemServer(tmp_path / "modem", tmp_path / "state", config=config) as m:
        yield m


def test_the_corpus_is_there() -> None:
    assert len(list(CORPUS.glob("decodes/*.dump"))) >= 30
    assert len(list(CORPUS.glob("fails/*.dump"))) >= 5


def test_every_capture_is_stored_and_read_back_verbatim(served: FakeModemServer) -> None:
    runner = CliRunner()
    state = str(served.state_dir)
    pdus = [captured_pdu(d) for d in DUMPS]
    for dump, pdu in zip(DUMPS, pdus, strict=True):
        result = runner.invoke(fake_modem, ["deliver", "--state-dir", state, "--pdu", pdu])
        assert result.exit_code == 0, (dump.name, result.output)
    with AtPort(served.link) as port:
        port.command("ATE0")
        assert port.command("AT+CMGF=0").endswith(b"OK\r\n")
        for index, (dump, pdu) in enumerate(zip(DUMPS, pdus, strict=True), start=1):
            answer = port.command(f"AT+CMGR={index}").decode("latin-1")
            lines = [x for x in answer.split("\r\n") if x]
            assert lines == [f"+CMGR: 0,,{codec.tpdu_length(pdu)}", pdu, "OK"], dump.name
        listing = port.command("AT+CMGL=4", timeout=10).decode("latin-1")
        listed = [x for x in listing.split("\r\n") if x and not x.startswith("+CMGL")]
        assert listed == [*pdus, "OK"]


def test_our_decoder_never_crashes_on_the_corpus() -> None:
    for dump in DUMPS:
        pdu = captured_pdu(dump)
        for decode in (codec.decode_deliver, codec.decode_submit, codec.decode_status_report):
            with contextlib.suppress(codec.PduError):
                decode(pdu)
