"""The kinds of value a config key holds, each knowing the one line it says when refused.

Every kind is an `Annotated` type: the Python type the code sees, and a check that takes
what TOML gave (a str, int, `Decimal`, bool, list or table) strictly, without coercing
`"5"` into 5 or `1` into true. A refused value becomes a pydantic error whose message is
the whole line after the key: `expected a positive integer, got "fast"`.
"""

from __future__ import annotations

import json
import re
import socket
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import PlainValidator, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# The pydantic error type of every refusal written here; its message is the whole line.
ERROR_TYPE = "config"


class ConfigError(ValueError):
    """A configuration problem; `str()` is one line: `<key>: <what was expected>`."""

    def __init__(self, key: str | None, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


class Reject(Exception):
    """Raised by a check: the value is refused. `message` replaces `expected …, got …`."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.message = message


def show(value: object) -> str:
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
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def refusal(message: str) -> PydanticCustomError:
    return PydanticCustomError(ERROR_TYPE, "{message}", {"message": message})


def fail_at(loc: tuple[str | int, ...], message: str, value: object) -> NoReturn:
    """Refuse the key at `loc` (relative to the table being validated) from a validator."""
    detail = InitErrorDetails(type=refusal(message), loc=loc, input=value)
    raise ValidationError.from_exception_data("config", [detail])


def expecting(expected: str, check: Callable[[object], T]) -> PlainValidator:
    """The validator of a kind: `check` converts or raises `Reject`."""

    def validate(value: object) -> T:
        try:
            return check(value)
        except Reject as exc:
            raise refusal(exc.message or f"expected {expected}, got {show(value)}") from None

    return PlainValidator(validate)


def _base(info: ValidationInfo[object]) -> Path:
    """The directory relative paths resolve against (the config file's)."""
    context = info.context
    base = context.get("base") if isinstance(context, dict) else None
    return base if isinstance(base, Path) else Path.cwd()


def expecting_path(expected: str, check: Callable[[object, Path], T]) -> PlainValidator:
    """Like `expecting`, for a check that resolves relative paths against the file's dir."""

    def validate(value: object, info: ValidationInfo[object]) -> T:
        try:
            return check(value, _base(info))
        except Reject as exc:
            raise refusal(exc.message or f"expected {expected}, got {show(value)}") from None

    return PlainValidator(validate)


# --- checks ---------------------------------------------------------------------------


def _number(value: object) -> Decimal:
    # TOML gives int or Decimal; a float comes only from code building settings directly.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Reject
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Reject
    return value


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Reject
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Reject
    return value


def _seconds(value: object) -> float:
    number = _number(value)
    if number <= 0:
        raise Reject
    return float(number)


def _seconds_or_zero(value: object) -> float:
    number = _number(value)
    if number < 0:
        raise Reject
    return float(number)


def amount(value: object) -> Decimal:
    """A positive money amount: an integer, a decimal (`5.50`) or a string (`"5.50"`)."""
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        if re.fullmatch(r"\d+(\.\d{1,2})?", text):
            value = Decimal(text)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Reject
    result = Decimal(value)
    if result <= 0 or result != result.quantize(Decimal("0.01")):
        raise Reject
    return result


AMOUNT = "a positive amount in euro (at most 2 decimals)"


def _amounts(value: object) -> tuple[Decimal, ...]:
    """A non-empty array of amounts; an element refused is named by its index."""
    if not isinstance(value, list) or not value:
        raise Reject
    out: list[Decimal] = []
    for i, item in enumerate(value):
        try:
            out.append(amount(item))
        except Reject:
            fail_at((i,), f"expected {AMOUNT}, got {show(item)}", item)
    return tuple(out)


def _path(value: object, base: Path) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise Reject
    path = Path(value)
    return path if path.is_absolute() else base / path


def _port(value: object, base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Reject
    if "://" in value:  # a pyserial URL (socket://, rfc2217://) is used as given
        return value
    return str(_path(value, base))


def _modem_name(value: object) -> str:
    # Names appear in logs, `status` tables and the database: keep them plain.
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", value):
        raise Reject
    return value


def _box_name(value: object) -> str:
    # A box's name is stored with every outbox row it claims: plain, like a modem's.
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", value):
        raise Reject
    return value


def default_box_name() -> str:
    """The host's name, as far as it is a valid box name (else "box")."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:63].lstrip("_.-")
    return name or "box"


def _bank_url(value: object) -> str:
    if not isinstance(value, str):
        raise Reject
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise Reject from None
    if parts.scheme == "https" and host:
        return value.rstrip("/")
    # Plain HTTP would send the bearer token and customers' balances in clear.
    if parts.scheme == "http" and host in ("127.0.0.1", "::1", "localhost"):
        return value.rstrip("/")
    raise Reject


def _postgres_url(value: object) -> str:
    # libpq's URI form; the password may be in it, so it is never echoed in an error.
    if not isinstance(value, str):
        raise Reject
    try:
        parts = urlsplit(value)
    except ValueError:
        raise Reject("expected a postgresql:// URL") from None
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise Reject("expected a postgresql:// URL naming a database")
    return value


def _timezone(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Reject
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Reject from None
    return value


def quoted(choices: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in choices)


def one_of(choices: object) -> PlainValidator:
    """The check of a `Literal[...]` type: one of its strings, exactly."""
    allowed = tuple(str(c) for c in get_args(choices))

    def check(value: object) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Reject
        return value

    return expecting("one of " + quoted(allowed), check)


def member_of(enum: type[E], *, only: tuple[E, ...] | None = None,
              message: str | None = None) -> PlainValidator:
    """The check of a `StrEnum` value (or key, with a whole-line `message`)."""
    members = only if only is not None else tuple(enum)

    def check(value: object) -> E:
        for member in members:
            if value == member.value:
                return member
        raise Reject(message)

    return expecting("one of " + quoted(tuple(m.value for m in members)), check)


def at_most(limit: int) -> PlainValidator:
    """A positive integer up to `limit`."""

    def check(value: object) -> int:
        number = _positive_int(value)
        if number > limit:
            raise Reject(f"expected at most {limit}, got {number}")
        return number

    return expecting("a positive integer", check)


def matching(pattern: str, message: str) -> PlainValidator:
    """A string (a table's key) matching `pattern`, or the whole-line `message`."""

    def check(value: object) -> str:
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise Reject(message)
        return value

    return expecting("", check)


_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")


def _listen(value: object) -> str:
    # HOST:PORT as the web listener binds it; port 0 asks the system for a free one.
    match = _LISTEN.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(2)) > 65535:
        raise Reject
    return str(value)


Flag = Annotated[bool, expecting("true or false", _flag)]
PositiveInt = Annotated[int, expecting("a positive integer", _positive_int)]
Count = Annotated[int, expecting("an integer of 0 or more", _count)]
Seconds = Annotated[float, expecting("a positive number of seconds", _seconds)]
SecondsOrZero = Annotated[float, expecting("a number of seconds, 0 or more", _seconds_or_zero)]
Amount = Annotated[Decimal, expecting(AMOUNT, amount)]
Amounts = Annotated[tuple[Decimal, ...], expecting("a non-empty array of amounts", _amounts)]
ConfigPath = Annotated[Path, expecting_path("a path", _path)]
OptionalPath = Annotated[Path | None, expecting_path("a path", _path)]
Port = Annotated[str, expecting_path("a path", _port)]
ModemName = Annotated[
    str, expecting("a short name (letters, digits, '.', '-' or '_'; at most 32)", _modem_name)
]
BoxName = Annotated[
    str, expecting("a short name (letters, digits, '.', '-' or '_'; at most 63)", _box_name)
]
BankUrl = Annotated[str, expecting("an https:// URL (http:// only to a loopback host)", _bank_url)]
PostgresUrl = Annotated[str, expecting("a postgresql:// URL", _postgres_url)]
Listen = Annotated[
    str, expecting('HOST:PORT such as "127.0.0.1:9333" (port 0 to 65535)', _listen)]
TimeZone = Annotated[str, expecting('an IANA time zone such as "Europe/Belgrade"', _timezone)]
