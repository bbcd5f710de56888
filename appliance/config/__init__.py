"""The appliance's TOML configuration, validated into frozen, typed settings.

`load(path)` reads the file and returns `Settings`, or raises `ConfigError` whose `str()`
is one line naming the key and what was expected
(`modems[0].baudrate: expected a positive integer, got "fast"`). Unknown keys are errors
too: a typo must not silently fall back to a default. Relative paths resolve against the
directory of the config file. `load_or_exit(path)` is the command line's entry: it prints
`appliance: config error: <that line>` to stderr and exits 2 (DESIGN §9).

`config/appliance.example.toml` documents every key with its default.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar, cast
from urllib.parse import urlsplit

from appliance.clitexts import t
from appliance.core.rules import (
    SERVED_OPERATORS,
    AmountRule,
    Language,
    Operator,
    Product,
    Rules,
)

T = TypeVar("T")

ModemOperator = Literal["vala", "ipko"]
MultipartPolicy = Literal["answer_partial", "help"]
SendingPolicy = Literal["resend", "fail"]
UnknownSenderPolicy = Literal["refuse_once_per_day", "silent"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

DEFAULT_CONFIG_PATH = Path("/etc/appliance/appliance.toml")
DEFAULT_DATABASE = Path("/var/lib/appliance/appliance.sqlite")
DEFAULT_RETENTION_DAYS = 90


class ConfigError(ValueError):
    """A configuration problem; `str()` is one line: `<key>: <what was expected>`."""

    def __init__(self, key: str | None, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


# --- settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModemSettings:
    """One USB GSM modem (one SIM, one operator)."""

    name: str
    port: str  # a device path (resolved) or a pyserial URL such as socket://host:port
    operator: ModemOperator
    baudrate: int = 115200
    # Hardware flow control is off by default: many USB sticks do not wire RTS/CTS and
    # hang with it on.
    rtscts: bool = False
    pin_file: Path | None = None
    command_timeout: float = 30.0


@dataclass(frozen=True)
class InboxSettings:
    poll_interval: float = 30.0
    multipart_timeout: float = 600.0
    multipart_policy: MultipartPolicy = "answer_partial"


@dataclass(frozen=True)
class OutboxSettings:
    max_attempts: int = 5
    backoff_initial: float = 10.0
    backoff_max: float = 600.0
    # A row found in 'sending' after a crash may or may not have reached the network.
    # 'resend' risks a duplicate SMS; 'fail' risks a customer never getting the answer.
    # A duplicate balance or alert is harmless, a lost one is not: default 'resend'.
    sending_policy: SendingPolicy = "resend"


@dataclass(frozen=True)
class BankSettings:
    url: str
    token_file: Path | None = None
    ca_file: Path | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    retries: int = 3
    sync_interval: float = 60.0
    page_size: int = 1000
    # While the bank is unreachable, hold a top-up this long before refusing it
    # (0: refuse at once with a clear reply).
    topup_hold_seconds: float = 0.0
    # Seconds between passes over top-up orders not yet answered by the bank (retries
    # with the same idempotency key).
    topup_interval: float = 10.0


@dataclass(frozen=True)
class UnknownSenderSettings:
    policy: UnknownSenderPolicy = "refuse_once_per_day"


@dataclass(frozen=True)
class Settings:
    """Everything the daemon, doctor and status need, validated."""

    source: Path  # the config file these settings came from
    database: Path
    modems: tuple[ModemSettings, ...]
    bank: BankSettings
    inbox: InboxSettings = field(default_factory=InboxSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    unknown_sender: UnknownSenderSettings = field(default_factory=UnknownSenderSettings)
    rules: Rules = field(default_factory=Rules)
    log_level: LogLevel = "INFO"
    # Days finished SMS traffic is kept before the daily housekeeping deletes it
    # (0: keep for ever). Top-up orders and movements are always kept.
    retention_days: int = DEFAULT_RETENTION_DAYS

    def modem(self, name: str) -> ModemSettings:
        """The modem called `name` (KeyError when there is none)."""
        for modem in self.modems:
            if modem.name == name:
                return modem
        raise KeyError(name)


# --- value checks ---------------------------------------------------------------------


def _show(value: object) -> str:
    """A value as the TOML file wrote it, for error messages (short, one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + '..."'
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _fail(key: str, expected: str, value: object) -> NoReturn:
    raise ConfigError(key, f"expected {expected}, got {_show(value)}")


Check = Callable[[str, object], T]


def _string(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(key, "a non-empty string", value)
    return value


def _bool(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        _fail(key, "true or false", value)
    return value


def _positive_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        _fail(key, "a positive integer", value)
    return value


def _non_negative_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(key, "an integer of 0 or more", value)
    return value


def _number(key: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        _fail(key, "a number", value)
    return Decimal(value)


def _seconds(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value <= 0:
        _fail(key, "a positive number of seconds", value)
    return float(value)


def _seconds_or_zero(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value < 0:
        _fail(key, "a number of seconds, 0 or more", value)
    return float(value)


def _amount(key: str, value: object) -> Decimal:
    """A positive money amount: an integer, a decimal (`5.50`) or a string (`"5.50"`)."""
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        if re.fullmatch(r"\d+(\.\d{1,2})?", text):
            value = Decimal(text)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        _fail(key, "a positive amount in euro (at most 2 decimals)", value)
    amount = Decimal(value)
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        _fail(key, "a positive amount in euro (at most 2 decimals)", value)
    return amount


def _one_of(*choices: str) -> Check[str]:
    def check(key: str, value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            _fail(key, "one of " + ", ".join(f'"{c}"' for c in choices), value)
        return value

    return check


def _resolver(base: Path) -> Check[Path]:
    def check(key: str, value: object) -> Path:
        if not isinstance(value, str) or not value.strip():
            _fail(key, "a path", value)
        path = Path(value)
        return path if path.is_absolute() else base / path

    return check


class _Table:
    """One TOML table being read: typed gets, defaults, and unknown keys as errors."""

    def __init__(
        self, data: object, path: str, known: tuple[str, ...], unknown: str | None = None
    ) -> None:
        if not isinstance(data, dict):
            _fail(path, "a table", data)
        self.data: dict[str, Any] = data
        self.path = path
        for name in data:
            if name not in known:
                if unknown is not None:  # a table keyed by names of things, not settings
                    raise ConfigError(self.key(name), unknown)
                hint = difflib.get_close_matches(name, known, n=1)
                suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
                raise ConfigError(self.key(name), f"unknown key{suggestion}")

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, check: Check[T], default: T) -> T:
        if name not in self.data:
            return default
        return check(self.key(name), self.data[name])

    def require(self, name: str, check: Check[T]) -> T:
        if name not in self.data:
            raise ConfigError(self.key(name), "required key is missing")
        return check(self.key(name), self.data[name])

    def table(self, name: str, known: tuple[str, ...], unknown: str | None = None) -> _Table:
        return _Table(self.data.get(name, {}), self.key(name), known, unknown)


# --- sections -------------------------------------------------------------------------

_TOP_KEYS = (
    "database",
    "retention_days",
    "log_level",
    "modems",
    "inbox",
    "outbox",
    "bank",
    "unknown_sender",
    "rules",
)
_MODEM_KEYS = ("name", "port", "operator", "baudrate", "rtscts", "pin_file", "command_timeout")
_INBOX_KEYS = ("poll_interval", "multipart_timeout", "multipart_policy")
_OUTBOX_KEYS = ("max_attempts", "backoff_initial", "backoff_max", "sending_policy")
_BANK_KEYS = (
    "url",
    "token_file",
    "ca_file",
    "connect_timeout",
    "read_timeout",
    "retries",
    "sync_interval",
    "page_size",
    "topup_hold_seconds",
    "topup_interval",
)
_RULES_KEYS = (
    "default_language",
    "transliterate",
    "stale_after_seconds",
    "timezone",
    "alert_limits",
    "daily_topup_amount",
    "daily_topup_count",
    "amounts",
    "products",
    "numbering_plan",
)
_AMOUNT_RULE_KEYS = ("allowed", "min", "max", "step")
_MAX_PAGE_SIZE = 5000


def _port(base: Path) -> Check[str]:
    def check(key: str, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            _fail(key, "a path", value)
        if "://" in value:  # a pyserial URL (socket://, rfc2217://) is used as given
            return value
        path = Path(value)
        return str(path if path.is_absolute() else base / path)

    return check


def _modem_name(key: str, value: object) -> str:
    # Names appear in logs, `status` tables and the database: keep them plain.
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", value):
        _fail(key, "a short name (letters, digits, '.', '-' or '_'; at most 32)", value)
    return value


def _modems(raw: object, base: Path) -> tuple[ModemSettings, ...]:
    if raw is None:
        raise ConfigError("modems", "required: at least one [[modems]] table")
    if not isinstance(raw, list) or not raw:
        _fail("modems", "at least one [[modems]] table", raw)
    modems: list[ModemSettings] = []
    for i, item in enumerate(raw):
        table = _Table(item, f"modems[{i}]", _MODEM_KEYS)
        name = table.require("name", _modem_name)
        if any(m.name == name for m in modems):
            raise ConfigError(table.key("name"), f"duplicate modem name {_show(name)}")
        port = table.require("port", _port(base))
        if any(m.port == port for m in modems):
            raise ConfigError(table.key("port"), f"port {_show(port)} is used by another modem")
        modems.append(
            ModemSettings(
                name=name,
                port=port,
                operator=cast(ModemOperator, table.require("operator", _one_of("vala", "ipko"))),
                baudrate=table.get("baudrate", _positive_int, 115200),
                rtscts=table.get("rtscts", _bool, False),
                pin_file=table.get("pin_file", _optional_path(base), None),
                command_timeout=table.get("command_timeout", _seconds, 30.0),
            )
        )
    return tuple(modems)


def _optional_path(base: Path) -> Check[Path | None]:
    resolve = _resolver(base)

    def check(key: str, value: object) -> Path | None:
        return resolve(key, value)

    return check


def _inbox(table: _Table) -> InboxSettings:
    return InboxSettings(
        poll_interval=table.get("poll_interval", _seconds, 30.0),
        multipart_timeout=table.get("multipart_timeout", _seconds, 600.0),
        multipart_policy=cast(
            MultipartPolicy,
            table.get("multipart_policy", _one_of("answer_partial", "help"), "answer_partial"),
        ),
    )


def _outbox(table: _Table) -> OutboxSettings:
    initial = table.get("backoff_initial", _seconds, 10.0)
    maximum = table.get("backoff_max", _seconds, 600.0)
    if maximum < initial:
        raise ConfigError(
            table.key("backoff_max"),
            f"expected at least backoff_initial ({initial:g}), got {maximum:g}",
        )
    return OutboxSettings(
        max_attempts=table.get("max_attempts", _positive_int, 5),
        backoff_initial=initial,
        backoff_max=maximum,
        sending_policy=cast(
            SendingPolicy, table.get("sending_policy", _one_of("resend", "fail"), "resend")
        ),
    )


def _bank_url(key: str, value: object) -> str:
    expected = "an https:// URL (http:// only to a loopback host)"
    if not isinstance(value, str):
        _fail(key, expected, value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        _fail(key, expected, value)
    if parts.scheme == "https" and host:
        return value.rstrip("/")
    # Plain HTTP would send the bearer token and customers' balances in clear.
    if parts.scheme == "http" and host in ("127.0.0.1", "::1", "localhost"):
        return value.rstrip("/")
    _fail(key, expected, value)


def _bank(table: _Table, base: Path) -> BankSettings:
    page_size = table.get("page_size", _positive_int, 1000)
    if page_size > _MAX_PAGE_SIZE:
        raise ConfigError(
            table.key("page_size"), f"expected at most {_MAX_PAGE_SIZE}, got {page_size}"
        )
    return BankSettings(
        url=table.require("url", _bank_url),
        token_file=table.get("token_file", _optional_path(base), None),
        ca_file=table.get("ca_file", _optional_path(base), None),
        connect_timeout=table.get("connect_timeout", _seconds, 5.0),
        read_timeout=table.get("read_timeout", _seconds, 15.0),
        retries=table.get("retries", _non_negative_int, 3),
        sync_interval=table.get("sync_interval", _seconds, 60.0),
        page_size=page_size,
        topup_hold_seconds=table.get("topup_hold_seconds", _seconds_or_zero, 0.0),
        topup_interval=table.get("topup_interval", _seconds, 10.0),
    )


def _amount_rule(table: _Table, default: AmountRule) -> AmountRule:
    if "allowed" in table.data:
        for other in ("min", "max", "step"):
            if other in table.data:
                raise ConfigError(
                    table.key(other), 'give either "allowed" or "min"/"max"/"step", not both'
                )
        raw = table.data["allowed"]
        if not isinstance(raw, list) or not raw:
            _fail(table.key("allowed"), "a non-empty array of amounts", raw)
        allowed = tuple(
            _amount(f"{table.key('allowed')}[{i}]", v) for i, v in enumerate(raw)
        )
        return AmountRule(allowed=tuple(sorted(set(allowed))))
    base = default if not default.allowed else AmountRule()
    minimum = table.get("min", _amount, base.minimum)
    maximum = table.get("max", _amount, base.maximum)
    step = table.get("step", _amount, base.step)
    if maximum < minimum:
        raise ConfigError(table.key("max"), f"expected at least min ({minimum}), got {maximum}")
    return AmountRule(minimum=minimum, maximum=maximum, step=step)


def _language(key: str, value: object) -> Language:
    return Language(_one_of(*(lang.value for lang in Language))(key, value))


def _timezone(key: str, value: object) -> str:
    name = _string(key, value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        _fail(key, "an IANA time zone such as \"Europe/Belgrade\"", value)
    return name


def _or(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _rules(table: _Table) -> Rules:
    defaults = Rules()
    served = tuple(op.value for op in Operator if op in SERVED_OPERATORS)
    amounts = dict(defaults.amounts)
    amounts_table = table.table(
        "amounts", served, "not a served operator (expected " + _or(served) + ")"
    )
    for name in amounts_table.data:
        op = Operator(name)
        amounts[op] = _amount_rule(
            amounts_table.table(name, _AMOUNT_RULE_KEYS), amounts.get(op, AmountRule())
        )
    products = dict(defaults.products)
    product_names = tuple(p.value for p in Product)
    products_table = table.table(
        "products", product_names, "not an IPKO product (expected " + _or(product_names) + ")"
    )
    for name in products_table.data:
        product = Product(name)
        products[product] = _amount_rule(
            products_table.table(name, _AMOUNT_RULE_KEYS), products[product]
        )
    plan = dict(defaults.numbering_plan)
    plan_raw = table.data.get("numbering_plan", {})
    if not isinstance(plan_raw, dict):
        _fail(table.key("numbering_plan"), "a table of prefix = operator", plan_raw)
    operators = tuple(op.value for op in Operator)
    for prefix, op_name in plan_raw.items():
        key = f"{table.key('numbering_plan')}.{prefix}"
        if not re.fullmatch(r"[1-9]\d{0,5}", prefix):
            raise ConfigError(
                key, "expected a prefix of the national number after +383 (digits, e.g. 44)"
            )
        plan[prefix] = Operator(_one_of(*operators)(key, op_name))
    limits_raw = table.data.get("alert_limits")
    alert_limits = defaults.alert_limits
    if limits_raw is not None:
        if not isinstance(limits_raw, list) or not limits_raw:
            _fail(table.key("alert_limits"), "a non-empty array of amounts", limits_raw)
        alert_limits = tuple(
            sorted(
                {_amount(f"{table.key('alert_limits')}[{i}]", v) for i, v in enumerate(limits_raw)}
            )
        )
    return Rules(
        numbering_plan=tuple(plan.items()),  # defaults in order; additions appended
        amounts=tuple(amounts.items()),
        products=tuple(products.items()),
        daily_topup_amount=table.get("daily_topup_amount", _amount, defaults.daily_topup_amount),
        daily_topup_count=table.get("daily_topup_count", _positive_int, defaults.daily_topup_count),
        alert_limits=alert_limits,
        default_language=table.get("default_language", _language, defaults.default_language),
        transliterate=table.get("transliterate", _bool, defaults.transliterate),
        stale_after_seconds=table.get(
            "stale_after_seconds", _non_negative_int, defaults.stale_after_seconds
        ),
        timezone=table.get("timezone", _timezone, defaults.timezone),
    )


def _log_level(key: str, value: object) -> LogLevel:
    levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    if not isinstance(value, str) or value.upper() not in levels:
        _fail(key, "one of " + ", ".join(f'"{lv.lower()}"' for lv in levels), value)
    return cast(LogLevel, value.upper())


# --- entry points ---------------------------------------------------------------------


def parse(data: Mapping[str, Any], source: Path) -> Settings:
    """Validate an already-parsed TOML document; relative paths resolve against `source`'s dir."""
    base = source.parent.absolute()
    top = _Table(dict(data), "", _TOP_KEYS)
    return Settings(
        source=source,
        database=top.get("database", _resolver(base), DEFAULT_DATABASE),
        modems=_modems(top.data.get("modems"), base),
        bank=_bank(top.table("bank", _BANK_KEYS), base),
        inbox=_inbox(top.table("inbox", _INBOX_KEYS)),
        outbox=_outbox(top.table("outbox", _OUTBOX_KEYS)),
        unknown_sender=UnknownSenderSettings(
            policy=cast(
                UnknownSenderPolicy,
                top.table("unknown_sender", ("policy",)).get(
                    "policy", _one_of("refuse_once_per_day", "silent"), "refuse_once_per_day"
                ),
            )
        ),
        rules=_rules(top.table("rules", _RULES_KEYS)),
        log_level=top.get("log_level", _log_level, "INFO"),
        retention_days=top.get("retention_days", _non_negative_int, DEFAULT_RETENTION_DAYS),
    )


_TOML_POSITION = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def load(path: Path) -> Settings:
    """Read and validate the config file at `path`; raises `ConfigError` (one line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(None, f"{path}: cannot read: {reason}") from exc
    try:
        # Decimal for TOML floats: amounts stay exact (5.50 is never 5.4999...).
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.match(message)
        if match:
            where = f"line {match['line']}, column {match['col']}"
            message = match["msg"]
        elif message.endswith("(at end of document)"):
            where = f"line {max(1, len(text.splitlines()))}, at the end of the file"
            message = message.removesuffix("(at end of document)").rstrip()
        else:
            raise ConfigError(None, f"{path}: invalid TOML: {message}") from exc
        raise ConfigError(None, f"{path}: {where}: invalid TOML: {message}") from exc
    return parse(data, path)


def require_for_run(settings: Settings) -> None:
    """What only the daemon needs: raises `ConfigError` when it is missing.

    `doctor`, `status` and `backup` work without a bank token (doctor reports its
    absence as a row); the daemon cannot talk to the bank without one.
    """
    if settings.bank.token_file is None:
        raise ConfigError(
            "bank.token_file",
            "required key is missing (`appliance run` needs the bank's bearer token)",
        )


def load_or_exit(path: Path, *, for_run: bool = False) -> Settings:
    """`load`, or print `appliance: config error: <line>` to stderr and exit 2.

    `for_run`: also what `appliance run` needs (`require_for_run`).
    """
    try:
        settings = load(path)
        if for_run:
            require_for_run(settings)
        return settings
    except ConfigError as exc:
        try:
            line = t("config.error", line=str(exc))
        except Exception:  # a broken CLI-texts module must not hide the config error
            line = f"appliance: config error: {exc}"
        print(line, file=sys.stderr)
        sys.exit(2)
