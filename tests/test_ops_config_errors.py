"""Broken config files: `appliance doctor --config` prints one line naming the key, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main

GOOD_MODEM = '[[modems]]\nname = "vala"\nport = "/dev/gsm-vala"\noperator = "vala"\n'
GOOD_BANK = '[bank]\nurl = "https://bank.example"\ntoken_file = "/tmp/none"\n'

# (what is wrong, the file, the key the one line must name)
BROKEN: list[tuple[str, str, str]] = [
    ("not TOML", GOOD_MODEM + "[bank\nurl = 1\n", "line 5"),
    ("no modems", GOOD_BANK, "modems"),
    ("port not a path", GOOD_MODEM.replace('"/dev/gsm-vala"', "12") + GOOD_BANK,
     "modems[0].port"),
    ("unknown operator", GOOD_MODEM.replace('operator = "vala"', 'operator = "telekom"')
     + GOOD_BANK, "modems[0].operator"),
    ("baudrate words", GOOD_MODEM + 'baudrate = "fast"\n' + GOOD_BANK, "modems[0].baudrate"),
    ("modem without a name", GOOD_MODEM.replace('name = "vala"\n', "") + GOOD_BANK,
     "modems[0].name"),
    ("two modems, one name", GOOD_MODEM + GOOD_MODEM.replace("gsm-vala", "gsm-ipko")
     + GOOD_BANK, "modems[1].name"),
    ("bank url missing", GOOD_MODEM + '[bank]\ntoken_file = "/tmp/x"\n', "bank.url"),
    ("plain http to the bank", GOOD_MODEM + GOOD_BANK.replace("https://bank.example",
                                                              "http://bank.example"),
     "bank.url"),
    ("page size too big", GOOD_MODEM + GOOD_BANK + "page_size = 9000\n", "bank.page_size"),
    ("typo in a top-level key", 'databse = "/tmp/x.sqlite"\n' + GOOD_MODEM + GOOD_BANK,
     "databse"),
    ("negative poll interval", GOOD_MODEM + GOOD_BANK + "[inbox]\npoll_interval = -5\n",
     "inbox.poll_interval"),
    ("backoff max below initial", GOOD_MODEM + GOOD_BANK
     + "[outbox]\nbackoff_initial = 60\nbackoff_max = 10\n", "outbox.backoff_max"),
    ("unknown language", GOOD_MODEM + GOOD_BANK + '[rules]\ndefault_language = "fr"\n',
     "rules.default_language"),
    ("log level", 'log_level = "loud"\n' + GOOD_MODEM + GOOD_BANK, "log_level"),
]


@pytest.mark.parametrize(("what", "text", "key"), BROKEN, ids=[b[0] for b in BROKEN])
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_broken_config_gives_one_line_and_exit_2(tmp_path: Path, what: str, text: str,
                                                 key: str, as_json: bool) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text(text, encoding="utf-8")
    args = ["doctor", "--config", str(config)] + (["--json"] if as_json else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (what, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert key in lines[0], (key, lines[0])
    assert result.stdout == ""  # nothing half-done on stdout


def test_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nope.toml" in lines[0]


@pytest.mark.parametrize("command", ["doctor", "status", "backup"])
def test_through_the_installed_command(tmp_path: Path, command: str) -> None:
    """The real `appliance` entry point, as branch IT types it."""
    config = tmp_path / "appliance.toml"
    config.write_text(GOOD_MODEM.replace('operator = "vala"', 'operator = "telekom"')
                      + GOOD_BANK)
    exe = Path(sys.executable).parent / "appliance"
    proc = subprocess.run([str(exe), command, "--config", str(config)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "modems[0].operator" in proc.stderr
