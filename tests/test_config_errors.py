"""Bad configuration files: one line naming the key, exit code 2, nothing silently ignored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from appliance.config import ConfigError, load, load_or_exit

MODEM = '[[modems]]\nname = "vala"\nport = "/dev/ttyUSB0"\noperator = "vala"\n'
BANK = '[bank]\nurl = "https://bank.example"\n'
GOOD = MODEM + BANK

# (file text, the exact one-line message `str(ConfigError)` must be)
BAD: list[tuple[str, str]] = [
    (GOOD.replace("operator = \"vala\"", "operator = \"vala\"\nbaudrate = \"fast\""),
     'modems[0].baudrate: expected a positive integer, got "fast"'),
    (GOOD.replace("operator = \"vala\"", "operator = \"vala\"\nbaudrate = 0"),
     "modems[0].baudrate: expected a positive integer, got 0"),
    (GOOD.replace("/dev/ttyUSB0\"", "/dev/ttyUSB0\"\nbaud = 9600"),
     'modems[0].baud: unknown key (did you mean "baudrate"?)'),
    (GOOD.replace('port = "/dev/ttyUSB0"', "port = 12"),
     "modems[0].port: expected a path, got 12"),
    (GOOD.replace('operator = "vala"', 'operator = "telekom"'),
     'modems[0].operator: expected one of "vala", "ipko", got "telekom"'),
    (GOOD.replace('operator = "vala"', 'operator = "vala"\nrtscts = "no"'),
     'modems[0].rtscts: expected true or false, got "no"'),
    (GOOD.replace('name = "vala"\n', ""), "modems[0].name: required key is missing"),
    (GOOD.replace('name = "vala"', 'name = "vala modem #1"'),
     "modems[0].name: expected a short name (letters, digits, '.', '-' or '_'; at most 32), "
     'got "vala modem #1"'),
    (GOOD + MODEM, 'modems[1].name: duplicate modem name "vala"'),
    (GOOD + MODEM.replace('name = "vala"', 'name = "b"'),
     'modems[1].port: port "/dev/ttyUSB0" is used by another modem'),
    (BANK, "modems: required: at least one [[modems]] table"),
    (MODEM, "bank.url: required key is missing"),
    (MODEM + '[bank]\nurl = "http://bank.example"\n',
     'bank.url: expected an https:// URL (http:// only to a loopback host), '
     'got "http://bank.example"'),
    (GOOD + "tokn_file = \"t\"\n", 'bank.tokn_file: unknown key (did you mean "token_file"?)'),
    (GOOD + "page_size = 9000\n", "bank.page_size: expected at most 5000, got 9000"),
    (GOOD + "retries = -1\n", "bank.retries: expected an integer of 0 or more, got -1"),
    (GOOD + "read_timeout = 0\n",
     "bank.read_timeout: expected a positive number of seconds, got 0"),
    (GOOD + "[inbox]\nmultipart_policy = \"drop\"\n",
     'inbox.multipart_policy: expected one of "answer_partial", "help", got "drop"'),
    (GOOD + "[outbox]\nbackoff_initial = 60\nbackoff_max = 10\n",
     "outbox.backoff_max: expected at least backoff_initial (60), got 10"),
    (GOOD + "[outbox]\nsending_policy = \"maybe\"\n",
     'outbox.sending_policy: expected one of "resend", "fail", got "maybe"'),
    (GOOD + "[unknown_sender]\npolicy = \"shout\"\n",
     'unknown_sender.policy: expected one of "refuse_once_per_day", "silent", got "shout"'),
    ("log_level = \"loud\"\n" + GOOD,
     'log_level: expected one of "debug", "info", "warning", "error", "critical", got "loud"'),
    ("databse = \"x.sqlite\"\n" + GOOD, 'databse: unknown key (did you mean "database"?)'),
    (GOOD + "[rules]\ndefault_language = \"de\"\n",
     'rules.default_language: expected one of "sq", "en", "sr", got "de"'),
    (GOOD + "[rules]\ndaily_topup_amount = -5\n",
     "rules.daily_topup_amount: expected a positive amount in euro (at most 2 decimals), "
     "got -5"),
    (GOOD + "[rules]\nalert_limits = [500, 0.001]\n",
     "rules.alert_limits[1]: expected a positive amount in euro (at most 2 decimals), "
     "got 0.001"),
    (GOOD + "[rules]\ntimezone = \"Mars/Olympus\"\n",
     'rules.timezone: expected an IANA time zone such as "Europe/Belgrade", '
     'got "Mars/Olympus"'),
    (GOOD + "[rules.amounts.z_mobile]\nmax = 5\n",
     "rules.amounts.z_mobile: not a served operator (expected vala, ipko_mobile or "
     "ipko_fixed)"),
    (GOOD + "[rules.amounts.vala]\nallowed = [1]\nmax = 5\n",
     'rules.amounts.vala.max: give either "allowed" or "min"/"max"/"step", not both'),
    (GOOD + "[rules.amounts.ipko_mobile]\nmin = 10\nmax = 5\n",
     "rules.amounts.ipko_mobile.max: expected at least min (10), got 5"),
    (GOOD + "[rules.products.netflix]\nmax = 5\n",
     "rules.products.netflix: not an IPKO product (expected internet, tv, duotv or duofix)"),
    (GOOD + "[rules.numbering_plan]\n44 = \"vodafone\"\n",
     'rules.numbering_plan.44: expected one of "vala", "ipko_mobile", "ipko_fixed", '
     '"z_mobile", "mts", "foreign", "unknown", got "vodafone"'),
    (GOOD + "[rules.numbering_plan]\n\"04x\" = \"vala\"\n",
     "rules.numbering_plan.04x: expected a prefix of the national number after +383 "
     "(digits, e.g. 44)"),
    (GOOD + "[http]\nlisten = \"9333\"\n",
     'http.listen: expected HOST:PORT such as "127.0.0.1:9333" (port 0 to 65535), '
     'got "9333"'),
    (GOOD + "[http]\nlisten = \"127.0.0.1:70000\"\n",
     'http.listen: expected HOST:PORT such as "127.0.0.1:9333" (port 0 to 65535), '
     'got "127.0.0.1:70000"'),
    (GOOD + "[http]\nlisten = 9333\n",
     'http.listen: expected HOST:PORT such as "127.0.0.1:9333" (port 0 to 65535), got 9333'),
    (GOOD + "inbox = 5\n", "bank.inbox: unknown key"),
    ("inbox = 5\n" + GOOD, "inbox: expected a table, got 5"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text(GOOD + "[inbox\npoll_interval = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == (
        f"{path}: line 7, column 7: invalid TOML: Expected ']' at the end of a table "
        "declaration"
    )


def test_toml_error_at_end_of_file_names_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text(GOOD + "log_level =", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 7, at the end of the file: invalid TOML"):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == f"{path}: cannot read: No such file or directory"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    path.write_bytes(b'log_level = "\xff"\n')
    with pytest.raises(ConfigError, match="cannot read"):
        load(path)


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
def _tiny(path: Path) -> None:
    settings = load_or_exit(path)
    click.echo(f"ok {settings.modems[0].name}")


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_load_or_exit_prints_one_line_and_exits_2(tmp_path: Path, text: str,
                                                  message: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_LANG", "en")
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(_tiny, [str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"appliance: config error: {message}\n"


def test_load_or_exit_good_file(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(_tiny, [str(path)])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok vala\n", "")


def test_albanian_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_LANG", "sq")
    result = CliRunner().invoke(_tiny, [str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert result.stderr.startswith("appliance: gabim në konfigurim: ")


@pytest.mark.parametrize(("text", "key"), [(GOOD + "[inbox\n", "line 7, column 7"),
                                           (GOOD + "retries = true\n", "bank.retries")])
def test_real_process_exit_2_with_one_line(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    code = ("import sys; from pathlib import Path; from appliance.config import load_or_exit; "
            "load_or_exit(Path(sys.argv[1])); print('loaded')")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], check=False,
                          capture_output=True,
                          text=True, timeout=60, env={"APPLIANCE_LANG": "en", "PATH": ""})
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("appliance: config error: ")
    assert key in lines[0]
