"""Loading good configuration files: defaults, relative paths, rules, the shipped examples."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from appliance.config import (
    DEFAULT_DATABASE,
    BankSettings,
    InboxSettings,
    ModemSettings,
    OutboxSettings,
    Settings,
    load,
)
from appliance.core.rules import AmountRule, Language, Operator, Product, Rules

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """
[[modems]]
name = "vala"
port = "/dev/ttyUSB0"
operator = "vala"

[bank]
url = "https://bank.example/api/"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_gets_every_default(tmp_path: Path) -> None:
    settings = load(_write(tmp_path, MINIMAL))
    assert isinstance(settings, Settings)
    assert settings.source == tmp_path / "appliance.toml"
    assert settings.database == DEFAULT_DATABASE
    assert settings.log_level == "INFO"
    (modem,) = settings.modems
    assert (modem.name, modem.port, modem.operator) == ("vala", "/dev/ttyUSB0", "vala")
    assert (modem.baudrate, modem.rtscts, modem.pin_file) == (115200, False, None)
    assert modem.command_timeout == 30.0
    assert settings.inbox == InboxSettings(poll_interval=30.0, multipart_timeout=600.0,
                                           multipart_policy="answer_partial")
    assert settings.outbox == OutboxSettings(max_attempts=5, backoff_initial=10.0,
                                             backoff_max=600.0, sending_policy="resend")
    assert settings.bank == BankSettings(url="https://bank.example/api")
    assert settings.bank.topup_hold_seconds == 0.0
    assert settings.unknown_sender.policy == "refuse_once_per_day"
    assert settings.rules == Rules()
    assert settings.modem("vala") is modem
    with pytest.raises(KeyError):
        settings.modem("ipko")


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    text = MINIMAL.replace('port = "/dev/ttyUSB0"', 'port = "modem.pty"\npin_file = "pin"')
    text = 'database = "state/db.sqlite"\n' + text + 'token_file = "secrets/token"\n'
    text += 'ca_file = "/etc/ssl/bank.pem"\n'
    path = sub / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    settings = load(path)
    assert settings.database == sub / "state" / "db.sqlite"
    assert settings.modems[0].port == str(sub / "modem.pty")
    assert settings.modems[0].pin_file == sub / "pin"
    assert settings.bank.token_file == sub / "secrets" / "token"
    assert settings.bank.ca_file == Path("/etc/ssl/bank.pem")


def test_pyserial_url_port_is_kept(tmp_path: Path) -> None:
    settings = load(_write(tmp_path, MINIMAL.replace("/dev/ttyUSB0", "socket://127.0.0.1:7")))
    assert settings.modems[0].port == "socket://127.0.0.1:7"


def test_every_section_overrides(tmp_path: Path) -> None:
    text = MINIMAL + """
connect_timeout = 2.5
read_timeout = 30
retries = 0
sync_interval = 120
page_size = 1000
topup_hold_seconds = 20

[[modems]]
name = "ipko"
port = "/dev/ttyUSB1"
operator = "ipko"
baudrate = 9600
rtscts = true
command_timeout = 5

[inbox]
poll_interval = 0.5
multipart_timeout = 60
multipart_policy = "help"

[outbox]
max_attempts = 2
backoff_initial = 1
backoff_max = 1
sending_policy = "fail"

[unknown_sender]
policy = "silent"
"""
    settings = load(_write(tmp_path, "log_level = \"debug\"\n" + text))
    assert settings.log_level == "DEBUG"
    assert [m.name for m in settings.modems] == ["vala", "ipko"]
    ipko = settings.modem("ipko")
    assert (ipko.baudrate, ipko.rtscts, ipko.command_timeout) == (9600, True, 5.0)
    assert settings.inbox == InboxSettings(poll_interval=0.5, multipart_timeout=60.0,
                                           multipart_policy="help")
    assert settings.outbox == OutboxSettings(max_attempts=2, backoff_initial=1.0,
                                             backoff_max=1.0, sending_policy="fail")
    assert settings.bank.connect_timeout == 2.5
    assert (settings.bank.retries, settings.bank.page_size) == (0, 1000)
    assert settings.bank.topup_hold_seconds == 20.0
    assert settings.unknown_sender.policy == "silent"


def test_rules_build_core_rules(tmp_path: Path) -> None:
    text = MINIMAL + """
[rules]
default_language = "en"
transliterate = false
stale_after_seconds = 0
timezone = "UTC"
alert_limits = [1000, 500, "2000.00"]
daily_topup_amount = 100.50
daily_topup_count = 3

[rules.amounts.vala]
allowed = [1, 2.50, "5,00"]

[rules.amounts.ipko_fixed]
max = 30
step = 0.5

[rules.products.tv]
min = 5
max = 25

[rules.numbering_plan]
455 = "vala"
4999 = "unknown"
"""
    rules = load(_write(tmp_path, text)).rules
    assert rules.default_language == Language.EN
    assert rules.transliterate is False
    assert rules.stale_after_seconds == 0
    assert rules.timezone == "UTC"
    assert rules.alert_limits == (Decimal(500), Decimal(1000), Decimal(2000))
    assert rules.daily_topup_amount == Decimal("100.50")
    assert rules.daily_topup_count == 3
    vala = rules.amount_rule(Operator.VALA)
    assert vala == AmountRule(allowed=(Decimal(1), Decimal("2.50"), Decimal("5.00")))
    assert vala.accepts(Decimal("2.5"))
    assert not vala.accepts(Decimal(3))
    fixed = rules.amount_rule(Operator.IPKO_FIXED)
    assert fixed == AmountRule(minimum=Decimal(1), maximum=Decimal(30), step=Decimal("0.5"))
    assert fixed.accepts(Decimal("29.5"))
    assert rules.amount_rule(Operator.IPKO_MOBILE) == Rules().amount_rule(Operator.IPKO_MOBILE)
    assert rules.amount_rule(Operator.Z_MOBILE) is None
    tv = rules.product_rule(Product.TV)
    assert tv == AmountRule(minimum=Decimal(5), maximum=Decimal(25), step=Decimal(1))
    assert rules.product_rule(Product.INTERNET) == Rules().product_rule(Product.INTERNET)
    plan = dict(rules.numbering_plan)
    assert plan["455"] == Operator.VALA
    assert plan["4999"] == Operator.UNKNOWN
    assert plan["44"] == Operator.VALA  # defaults kept
    assert plan["456"] == Operator.Z_MOBILE


def test_money_in_config_is_never_a_float(tmp_path: Path) -> None:
    text = MINIMAL + "[rules]\ndaily_topup_amount = 0.30\n"
    amount = load(_write(tmp_path, text)).rules.daily_topup_amount
    assert type(amount) is Decimal
    assert amount == Decimal("0.30")


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load(_write(tmp_path, MINIMAL))
    with pytest.raises(ValidationError, match="frozen"):
        settings.log_level = "DEBUG"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.bank.page_size = 1  # type: ignore[misc]


@pytest.mark.parametrize("name", ["appliance.example.toml", "demo.toml"])
def test_shipped_configs_load(name: str) -> None:
    settings = load(REPO / "config" / name)
    assert settings.modems
    assert settings.bank.url


def _schema_keys(model: type[BaseModel]) -> set[str]:
    """Every key of a table of the schema and of the tables inside it."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        keys.add(name)
        for inner in _models_in(info.annotation):
            keys |= _schema_keys(inner)
    return keys


def _models_in(annotation: object) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def test_example_documents_every_key() -> None:
    """Every key the schema knows appears in the example (commented out or set)."""
    from appliance.config.rules import RulesSection

    text = (REPO / "config" / "appliance.example.toml").read_text(encoding="utf-8")
    keys = _schema_keys(Settings) | _schema_keys(RulesSection)
    assert {"page_size", "topup_interval", "topup_max_attempts", "allowed", "step"} <= keys
    missing = [k for k in sorted(keys) if f"{k} =" not in text and f"[{k}" not in text
               and f".{k}]" not in text and f".{k}." not in text]
    assert missing == []


def test_example_defaults_match_the_code() -> None:
    """The example shows the defaults: loading it equals the defaults (but what it sets)."""
    settings = load(REPO / "config" / "appliance.example.toml")
    assert settings.inbox == InboxSettings()
    assert settings.outbox == OutboxSettings()
    assert settings.rules == Rules()
    assert settings.unknown_sender.policy == "refuse_once_per_day"
    assert settings.database == DEFAULT_DATABASE
    modem = settings.modems[0]
    assert (modem.baudrate, modem.rtscts, modem.command_timeout) == (115200, False, 30.0)
    bank = settings.bank
    assert (bank.connect_timeout, bank.read_timeout, bank.retries) == (5.0, 15.0, 3)
    assert (bank.sync_interval, bank.page_size, bank.topup_hold_seconds) == (60.0, 1000, 0.0)
    assert bank.topup_interval == 10.0
    # every key of [bank] but the three without a default shows its default
    shown = {"url", "token_file", "ca_file"}
    assert bank.model_dump(exclude=shown) == BankSettings(url=bank.url).model_dump(exclude=shown)
    assert modem.model_dump(exclude={"name", "port", "operator"}) == ModemSettings(
        name="x", port="/dev/x", operator="vala").model_dump(exclude={"name", "port", "operator"})
    assert (settings.log_level, settings.retention_days) == ("INFO", 90)


def test_every_rules_field_can_be_configured() -> None:
    """A setting added to core.rules.Rules must get a [rules] key (and a line in the example)."""
    import dataclasses

    from appliance.config.rules import RulesSection

    assert {f.name for f in dataclasses.fields(Rules)} == set(RulesSection.model_fields)
