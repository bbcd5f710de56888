"""gammu (a real client nobody here wrote) against the fake modem over its pty."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.server import FakeModemServer

ALBANIAN = "Përshëndetje! Bilanci: 1.234,56 € — faleminderit, ç"
LONG = " ".join(f"fjala{i:03d}" for i in range(50))[:300]  # GSM-7, two parts


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeModemServer, Path]]:
    assert shutil.which("gammu"), "gammu is installed by scripts/test"
    link = tmp_path / "modem"
    rc = tmp_path / "gammurc"
    rc.write_text(f"[gammu]\ndevice = {link}\nconnection = at\n", encoding="utf-8")
    with FakeModemServer(link, tmp_path / "state", config=ModemConfig(sm_capacity=30)) as m:
        yield m, rc


def gammu(rc: Path, tmp: Path, *commands: str) -> list[str]:
    """Run gammu commands in one batch session (gammu sleeps ~3 s at each start);
    returns each command's output."""
    batch = tmp / "batch.txt"
    batch.write_text("".join(c + "\n" for c in commands), encoding="utf-8")
    proc = subprocess.run(["gammu", "-c", str(rc), "batch", str(batch)], capture_output=True,
                          timeout=90, check=False)
    out = proc.stdout.decode("utf-8", errors="replace")
    assert proc.returncode == 0, (proc.returncode, out, proc.stderr.decode(errors="replace"))
    assert "rror" not in out, out
    sections = re.split(r"-{20,}\nExecuting batch .* - command \d+: .*\n", out)[1:]
    assert len(sections) == len(commands), out
    return sections


def messages(listing: str) -> list[tuple[str, str]]:
    """(header, body) of each message gammu getallsms printed."""
    blocks = re.split(r"\n(?=Location \d+, folder)", "\n" + listing)
    out = []
    for block in blocks:
        if not block.startswith("Location"):
            continue
        header, _, body = block.partition("\n\n")
        body = re.sub(r"\n+\d+ SMS parts in \d+ SMS sequences\n.*$", "", body, flags=re.S)
        out.append((header, body.rstrip("\n")))
    return out


def test_identify_and_getallsms(served: tuple[FakeModemServer, Path], tmp_path: Path) -> None:
    modem, rc = served
    modem.deliver("+38344123456", ALBANIAN)
    modem.deliver("+38349234567", LONG)
    ident, listing = gammu(rc, tmp_path, "identify", "getallsms")
    assert re.search(r"Manufacturer\s+: FAKEMODEM", ident)
    assert re.search(r"IMEI\s+: 356938035643809", ident)
    assert re.search(r"SIM IMSI\s+: 221011234567890", ident)
    found = messages(listing)
    assert len(found) == 3, listing
    (h1, b1), (h2, b2), (h3, b3) = found
    assert b1 == ALBANIAN
    assert 'Remote number        : "+38344123456"' in h1
    assert "Unicode" in h1
    assert 'SMSC number          : "+38344000100"' in h1
    assert "part 1 of 2" in h2
    assert "part 2 of 2" in h3
    assert 'Remote number        : "+38349234567"' in h3
    assert b2 + b3 == LONG
    assert len(b2) == 153
    refused = {line for line, final in modem.history() if final not in ("OK", "> ")}
    assert refused == {"AT+MODE=2", "AT+CPROT=?", "AT+SYNCML=?", "AT$TSSPCSW=?"}  # probes


def test_sendsms_appears_in_sent(served: tuple[FakeModemServer, Path], tmp_path: Path) -> None:
    modem, rc = served
    text = "Bilanci juaj: 12,50 EUR [ok] {test} €"
    first, _, _ = gammu(rc, tmp_path,
                        f'sendsms TEXT +38344123456 -text "{text}"',
                        'sendsms TEXT +38349234567 -unicode -text "Faleminderit ë"',
                        f'sendsms TEXT +38344123456 -len {len(LONG)} -text "{LONG}"')
    assert "OK, message reference=0" in first
    sent = modem.sent()
    assert [(s.to, s.text, s.parts, s.alphabet) for s in sent] == [
        ("+38344123456", text, 1, "gsm7"), ("+38349234567", "Faleminderit ë", 1, "ucs2"),
        ("+38344123456", LONG, 2, "gsm7")]


def test_deleteallsms_empties_the_storage(served: tuple[FakeModemServer, Path],
                                          tmp_path: Path) -> None:
    modem, rc = served
    modem.deliver("+38344123456", "one")
    modem.deliver("+38344123456", ALBANIAN)
    modem.deliver("+38344123456", LONG)
    assert len(modem.stored()) == 4
    _, listing = gammu(rc, tmp_path, "deleteallsms 1", "getallsms")
    assert modem.stored() == []
    assert "0 SMS parts in 0 SMS sequences" in listing


def run_gammu(rc: Path, *command: str) -> tuple[int, str]:
    """One gammu command in its own session: (exit code, stdout)."""
    proc = subprocess.run(["gammu", "-c", str(rc), *command], capture_output=True,
                          timeout=90, check=False)
    return proc.returncode, proc.stdout.decode("utf-8", errors="replace")


NETWORK = [
    r"Network state\s+: home network",
    r"Network\s+: 221 01 \(Vala, Kosovo\), LAC 00A1, CID 1B2C",
    r'Name in phone\s+: "Vala"',
    r"Packet network state\s+: home network",
    r"Packet network\s+: 221 01 \(Vala, Kosovo\), LAC 00A1, CID 1B2C",
    r"GPRS\s+: attached",
]


def test_networkinfo(served: tuple[FakeModemServer, Path]) -> None:
    modem, rc = served
    code, out = run_gammu(rc, "networkinfo")
    assert code == 0, out
    for pattern in NETWORK:
        assert re.search(pattern, out), (pattern, out)
    asked = [line for line, final in modem.history() if final == "OK"]
    for line in ("AT+CREG=2", "AT+CGREG=2", "AT+CGATT?", "AT+CREG?", "AT+CGREG?",
                 "AT+COPS=3,2", "AT+COPS?", "AT+COPS=3,0"):
        assert line in asked, (line, asked)


def test_monitor_one_round(served: tuple[FakeModemServer, Path]) -> None:
    modem, rc = served
    modem.deliver("+38344123456", "one")
    code, out = run_gammu(rc, "monitor", "1")
    assert code == 0, out
    assert "not supported" not in out, out
    assert "Leaving monitor mode" in out
    for pattern in [r"Enabling info about incoming SMS\s+: No error",
                    r"Enabling info about USSD\s+: No error",
                    r"Battery level\s+: 100 percent",
                    r"Signal strength\s+: -73 dBm",
                    r"SIM SMS status\s+: 1 used, \d+ unread, 30 locations", *NETWORK]:
        assert re.search(pattern, out), (pattern, out)


def test_networkinfo_without_packet_service(served: tuple[FakeModemServer, Path]) -> None:
    modem, rc = served
    modem.interpreter.cgatt = 0  # as after AT+CGATT=0 from another client
    code, out = run_gammu(rc, "networkinfo")
    assert code == 0, out
    assert re.search(r"Network state\s+: home network", out), out
    assert re.search(r"Packet network state\s+: not logged into network", out), out
    assert re.search(r"GPRS\s+: detached", out), out
