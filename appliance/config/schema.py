"""The one schema of the config file: every key, its kind and its default, written once.

`config/appliance.example.toml` documents each key here (a test keeps the two in step).
Code that takes one of these values as a parameter of its own takes its default from the
`DEFAULT_*` names below rather than writing the number again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    PlainValidator,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from appliance.config.database import split_database
from appliance.config.rules import rules_from_toml
from appliance.config.section import Section
from appliance.config.values import (
    BankUrl,
    BoxName,
    ConfigPath,
    Count,
    Flag,
    Listen,
    ModemName,
    OptionalPath,
    Port,
    PositiveInt,
    Reject,
    Seconds,
    SecondsOrZero,
    at_most,
    default_box_name,
    expecting,
    fail_at,
    one_of,
    quoted,
    show,
)
from appliance.core.guards import RateLimit
from appliance.core.rules import Rules

ModemOperator = Literal["vala", "ipko"]
MultipartPolicy = Literal["answer_partial", "help"]
SendingPolicy = Literal["resend", "fail"]
ReceiveMode = Literal["stored", "direct"]
UnknownSenderPolicy = Literal["refuse_once_per_day", "silent"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

DEFAULT_CONFIG_PATH = Path("/etc/appliance/appliance.toml")
DEFAULT_DATABASE = Path("/var/lib/appliance/appliance.sqlite")
DEFAULT_RETENTION_DAYS = 90
DEFAULT_OUTBOX_LEASE = 120.0
# Sending an SMS (AT+CMGS) on a weak network can take many seconds.
DEFAULT_COMMAND_TIMEOUT = 30.0
# Top-ups while the bank is unreachable: attempts, then the spacing of retries (doubling).
DEFAULT_TOPUP_MAX_ATTEMPTS = 5
DEFAULT_TOPUP_BACKOFF_INITIAL = 15.0
DEFAULT_TOPUP_BACKOFF_MAX = 300.0
MAX_PAGE_SIZE = 5000
# Metrics and the status page: loopback only by default (no login on the page).
DEFAULT_HTTP_LISTEN = "127.0.0.1:9333"


def _not_below(section: Section, low: str, high: str) -> None:
    """`high` must be at least `low` (two keys of one table)."""
    lo: float = getattr(section, low)
    hi: float = getattr(section, high)
    if hi < lo:
        fail_at((high,), f"expected at least {low} ({lo:g}), got {hi:g}", hi)


def _e164_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
            isinstance(v, str) and re.fullmatch(r"\+[1-9]\d{5,14}", v) for v in value):
        raise Reject
    return tuple(value)


E164List = Annotated[tuple[str, ...],
                     expecting("an array of E.164 numbers such as \"+38344000100\"",
                               _e164_list)]


class ModemSettings(Section):
    """One USB GSM modem (one SIM, one operator)."""

    name: ModemName
    port: Port  # a device path (resolved) or a pyserial URL such as socket://host:port
    operator: Annotated[ModemOperator, one_of(ModemOperator)]
    baudrate: PositiveInt = 115200
    # Hardware flow control is off by default: many USB sticks do not wire RTS/CTS and
    # hang with it on.
    rtscts: Flag = False
    pin_file: OptionalPath = None
    command_timeout: Seconds = DEFAULT_COMMAND_TIMEOUT
    # The service centres this modem's operator delivers through (DESIGN §4): when set, a
    # money command that came through another one is refused. Empty: off.
    smsc_allow: E164List = ()
    # How messages come in (issue 17): "stored" in the modem's storage, listed (+CMGL)
    # and deleted (+CMGD) after their commit; "direct" routed to us (+CNMI mt=2, +CMT)
    # and acknowledged (+CNMA, +CSMS=1) after their commit, so that the network delivers
    # again what was not committed: no listing and no delete per message.
    receive: Annotated[ReceiveMode, one_of(ReceiveMode)] = "stored"


class InboxSettings(Section):
    poll_interval: Seconds = 30.0
    multipart_timeout: Seconds = 600.0
    multipart_policy: Annotated[MultipartPolicy, one_of(MultipartPolicy)] = "answer_partial"
    # Per-sender rate limit (DESIGN §4): a phone sending more is answered once, then its
    # messages are stored and marked handled unanswered for the rest of the window.
    # 0: no limit for that window.
    sender_per_minute: Count = RateLimit().per_minute
    sender_per_hour: Count = RateLimit().per_hour


class OutboxSettings(Section):
    max_attempts: PositiveInt = 5
    backoff_initial: Seconds = 10.0
    backoff_max: Seconds = 600.0
    # A row found in 'sending' after a crash may or may not have reached the network.
    # 'resend' risks a duplicate SMS; 'fail' risks a customer never getting the answer.
    # A duplicate balance or alert is harmless, a lost one is not: default 'resend'.
    sending_policy: Annotated[SendingPolicy, one_of(SendingPolicy)] = "resend"
    # sendprogress (issue 16): a row a crash left after its PDU was written waits this
    # long for a status report (a delivered one settles it, not resent) before
    # sending_policy applies. Reports come 10-20 s after a send on a working network;
    # 0 applies the policy at once (the behaviour before).
    sending_grace: SecondsOrZero = 60.0
    # A claimed row is this box's for this long (DESIGN §10): a box that dies mid-send
    # loses it then, and another box sends it. Renewed while a send is in flight and
    # checked before each PDU (store.leases), so it need not outlast a send.
    lease: Seconds = DEFAULT_OUTBOX_LEASE
    # A row another box took over after its PDU was written waits up to this long for its
    # modem to come back (the box restarted: its SIM holds the status report), then a
    # grace, before sending_policy applies. 0: the grace alone (the behaviour before).
    dead_box_hold: SecondsOrZero = 300.0

    @model_validator(mode="after")
    def _backoff(self) -> Self:
        _not_below(self, "backoff_initial", "backoff_max")
        return self


class BankSettings(Section):
    url: BankUrl
    # Required by `appliance run` only (`require_for_run`); doctor reports it missing.
    token_file: OptionalPath = None
    ca_file: OptionalPath = None
    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 15.0
    retries: Count = 3
    sync_interval: Seconds = 60.0
    page_size: Annotated[int, at_most(MAX_PAGE_SIZE)] = 1000
    # While the bank is unreachable, hold a top-up this long before refusing it
    # (0: refuse at once with a clear reply).
    topup_hold_seconds: SecondsOrZero = 0.0
    # Seconds between passes over top-up orders not yet answered by the bank (retries
    # with the same idempotency key).
    topup_interval: Seconds = 10.0
    # A held top-up is tried this many times, the first retry after topup_backoff_initial
    # seconds, doubling up to topup_backoff_max (also the spacing of resolving orders whose
    # outcome the bank did not tell).
    topup_max_attempts: PositiveInt = DEFAULT_TOPUP_MAX_ATTEMPTS
    topup_backoff_initial: Seconds = DEFAULT_TOPUP_BACKOFF_INITIAL
    topup_backoff_max: Seconds = DEFAULT_TOPUP_BACKOFF_MAX
    # Bank requests (STOP/START, SQ/EN/SR, BLLOKO) are retried while the bank is down, with
    # the top-ups' backoff, for this long after the customer asked; then they fail and the
    # customer is told.
    request_retry_for: Seconds = 3600.0

    @model_validator(mode="after")
    def _backoff(self) -> Self:
        _not_below(self, "topup_backoff_initial", "topup_backoff_max")
        return self


class UnknownSenderSettings(Section):
    policy: Annotated[UnknownSenderPolicy, one_of(UnknownSenderPolicy)] = "refuse_once_per_day"


class HttpSettings(Section):
    """The loopback listener of /metrics (Prometheus) and / (the status page)."""

    listen: Listen = DEFAULT_HTTP_LISTEN


def _log_level(value: object) -> LogLevel:
    for level in LOG_LEVELS:
        if isinstance(value, str) and value.upper() == level:
            return level
    raise Reject


LOG_LEVELS: tuple[LogLevel, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_MODEMS = "at least one [[modems]] table"


def _modem_list(value: object) -> object:
    if not isinstance(value, list) or not value:
        raise Reject
    return value


def _distinct(modems: tuple[ModemSettings, ...]) -> tuple[ModemSettings, ...]:
    for i, modem in enumerate(modems):
        earlier = modems[:i]
        if any(m.name == modem.name for m in earlier):
            fail_at((i, "name"), f"duplicate modem name {show(modem.name)}", modem.name)
        if any(m.port == modem.port for m in earlier):
            fail_at((i, "port"), f"port {show(modem.port)} is used by another modem",
                    modem.port)
    return modems


class Settings(Section):
    """Everything the daemon, doctor and status need, validated (`load(path)`)."""

    database: ConfigPath = DEFAULT_DATABASE
    # This box's name among the boxes sharing one database (default: the host name).
    box: BoxName = Field(default_factory=default_box_name)
    modems: Annotated[
        tuple[ModemSettings, ...],
        BeforeValidator(expecting(_MODEMS, _modem_list).func),
        AfterValidator(_distinct),
    ] = Field(json_schema_extra={"missing": "required: " + _MODEMS})
    bank: BankSettings
    inbox: InboxSettings = InboxSettings()
    outbox: OutboxSettings = OutboxSettings()
    unknown_sender: UnknownSenderSettings = UnknownSenderSettings()
    http: HttpSettings = HttpSettings()
    rules: Annotated[Rules, PlainValidator(rules_from_toml)] = Field(default_factory=Rules)
    log_level: Annotated[
        LogLevel, expecting("one of " + quoted(tuple(lv.lower() for lv in LOG_LEVELS)),
                            _log_level)] = "INFO"
    # Days finished SMS traffic is kept before the daily housekeeping deletes it
    # (0: keep for ever). Top-up orders and movements are always kept.
    retention_days: Count = DEFAULT_RETENTION_DAYS

    _source: Path = PrivateAttr(default=Path())
    _database_url: str | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _database_table(cls, data: object, handler: ModelWrapValidatorHandler[Settings],
                        info: ValidationInfo[object]) -> Settings:
        # `[database] url` is kept beside the fields: `database` stays the local path.
        url: str | None = None
        if isinstance(data, dict):
            data, url = split_database(data, info.context, DEFAULT_DATABASE)
        settings = handler(data)
        settings._database_url = url
        return settings

    @model_validator(mode="before")
    @classmethod
    def _bank_table(cls, data: object) -> object:
        # No [bank] table at all: name the key inside it that has no default.
        if isinstance(data, dict) and "bank" not in data:
            return {**data, "bank": {}}
        return data

    @property
    def database_url(self) -> str | None:
        """The shared PostgreSQL database (`[database] url`); None: the SQLite file."""
        return self._database_url

    @property
    def source(self) -> Path:
        """The config file these settings came from."""
        return self._source

    def modem(self, name: str) -> ModemSettings:
        """The modem called `name` (KeyError when there is none)."""
        for modem in self.modems:
            if modem.name == name:
                return modem
        raise KeyError(name)
