"""Column types: money as exact Decimal in TEXT, times as UTC in sortable TEXT.

SQLite has no decimal type and its REAL would turn 0.10 into 0.1000000000000000055..., so
money is stored as the Decimal's own string. Times are stored as fixed-width UTC text
(`2026-11-27 12:00:00.000000`) so that SQL comparisons (`next_attempt_at <= ?`) and
ORDER BY agree with time order; they come back timezone-aware in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import peewee

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def to_decimal(value: object) -> Decimal:
    """Coerce an int, str or Decimal to a finite Decimal; floats are refused (no binary money)."""
    if isinstance(value, bool | float):
        raise TypeError(f"money must be Decimal, int or str, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"not an amount: {value!r}") from exc
    else:
        raise TypeError(f"money must be Decimal, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


def utc_text(value: datetime) -> str:
    """The stored form of an aware datetime: fixed-width UTC text (sorts as time does)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (times are timezone-aware UTC)")
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_utc_text(value: str) -> datetime:
    """Inverse of `utc_text`; also accepts ISO 8601 with an offset."""
    try:
        parsed = datetime.strptime(value, _TIME_FORMAT)
    except ValueError:
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class MoneyField(peewee.Field):  # type: ignore[misc]
    """A Decimal amount stored as TEXT, exactly as written (`5.50` stays `5.50`)."""

    field_type = "TEXT"

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return str(to_decimal(value))

    def python_value(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value))


class FlagField(peewee.Field):  # type: ignore[misc]
    """A bool stored as INTEGER 0/1 (CHECK IN (0, 1)) on both databases: PostgreSQL will
    not put a boolean into an integer column, and the schema is the same on both."""

    field_type = "INTEGER"

    def db_value(self, value: Any) -> int | None:
        return None if value is None else int(bool(value))

    def python_value(self, value: Any) -> bool | None:
        return None if value is None else bool(value)


class UTCDateTimeField(peewee.Field):  # type: ignore[misc]
    """A timezone-aware UTC datetime stored as fixed-width TEXT; naive datetimes are refused."""

    field_type = "TEXT"

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return utc_text(value)
        if isinstance(value, str):
            # Already in stored form (e.g. a value read back raw): normalise it.
            return utc_text(parse_utc_text(value))
        raise TypeError(f"expected datetime, got {type(value).__name__}")

    def python_value(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return parse_utc_text(str(value))
