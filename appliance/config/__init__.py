"""The appliance's TOML configuration, validated into frozen, typed settings.

`load(path)` reads the file and returns `Settings`, or raises `ConfigError` whose `str()`
is one line naming the key and what was expected
(`modems[0].baudrate: expected a positive integer, got "fast"`). Unknown keys are errors
too: a typo must not silently fall back to a default. Relative paths resolve against the
directory of the config file. `load_or_exit(path)` is the command line's entry: it prints
`appliance: config error: <that line>` to stderr and exits 2 (DESIGN §9).

The schema (`schema.py`, `rules.py`; the kinds of value in `values.py`) is the one place
each key and its default are written; `config/appliance.example.toml` documents them.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from appliance.clitexts import t
from appliance.config.schema import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONFIG_PATH,
    DEFAULT_DATABASE,
    DEFAULT_HTTP_LISTEN,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TOPUP_BACKOFF_INITIAL,
    DEFAULT_TOPUP_BACKOFF_MAX,
    DEFAULT_TOPUP_MAX_ATTEMPTS,
    BankSettings,
    HttpSettings,
    InboxSettings,
    LogLevel,
    ModemOperator,
    ModemSettings,
    MultipartPolicy,
    OutboxSettings,
    ReceiveMode,
    SendingPolicy,
    Settings,
    UnknownSenderPolicy,
    UnknownSenderSettings,
)
from appliance.config.values import ERROR_TYPE, ConfigError, show

__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DATABASE",
    "DEFAULT_HTTP_LISTEN",
    "DEFAULT_RETENTION_DAYS",
    "DEFAULT_TOPUP_BACKOFF_INITIAL",
    "DEFAULT_TOPUP_BACKOFF_MAX",
    "DEFAULT_TOPUP_MAX_ATTEMPTS",
    "BankSettings",
    "ConfigError",
    "HttpSettings",
    "InboxSettings",
    "LogLevel",
    "ModemOperator",
    "ModemSettings",
    "MultipartPolicy",
    "OutboxSettings",
    "ReceiveMode",
    "SendingPolicy",
    "Settings",
    "UnknownSenderPolicy",
    "UnknownSenderSettings",
    "load",
    "load_or_exit",
    "parse",
    "require_for_run",
]

_TABLE_ERRORS = ("model_type", "model_attributes_type", "dict_type")


def _key(loc: tuple[str | int, ...]) -> str:
    """`("modems", 0, "baudrate")` → `modems[0].baudrate`; a bad table key names itself."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's mark for a dict key (the part before it)
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _missing(loc: tuple[str | int, ...]) -> str:
    field = Settings.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    extra = field.json_schema_extra if field is not None else None
    if isinstance(extra, dict) and isinstance(extra.get("missing"), str):
        return str(extra["missing"])
    return "required key is missing"


def _one_line(error: ErrorDetails) -> ConfigError:
    """One pydantic error as the line the operator reads."""
    loc = tuple(error["loc"])
    key = _key(loc) or None
    kind = error["type"]
    if kind == ERROR_TYPE:
        return ConfigError(key, error["msg"])
    if kind == "missing":
        return ConfigError(key, _missing(loc))
    if kind in _TABLE_ERRORS:
        return ConfigError(key, f"expected a table, got {show(error['input'])}")
    if kind == "extra_forbidden":  # Section names unknown keys first; a backstop
        return ConfigError(key, "unknown key")
    return ConfigError(key, f"expected a valid value, got {show(error['input'])}")


def parse(data: Mapping[str, object], source: Path) -> Settings:
    """Validate an already-parsed TOML document; relative paths resolve against `source`'s dir."""
    base = source.parent.absolute()
    try:
        settings = Settings.model_validate(dict(data), context={"base": base})
    except ValidationError as exc:
        raise _one_line(exc.errors()[0]) from None
    settings._source = source
    return settings


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
