"""Key/value state the bank sync, the daemon and `status` share, and the local day."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from appliance.store.fields import parse_utc_text, utc_text
from appliance.store.models import (
    SyncState,
    database,
)

# SyncState keys shared by the bank sync, the daemon and `status`.
STATE_BANK_CURSOR = "bank.cursor"


STATE_LAST_SYNC_AT = "bank.last_sync_at"  # UTC time of the last complete, successful sync


# "running" while the first sync of a fresh database loads the bank's history (no alerts
# for it), "done" once the feed was read to its end.
STATE_BASELINE = "bank.alert_baseline"

DEFAULT_TIMEZONE = "Europe/Belgrade"


def get_state(key: str, default: str | None = None) -> str | None:
    """The stored value for `key` (bank cursor, last sync time, ...), or `default`."""
    row = SyncState.get_or_none(SyncState.key == key)
    return default if row is None else str(row.value)


def set_state(key: str, value: str) -> None:
    """Store `value` under `key`, replacing any previous value."""
    with database.atomic():
        SyncState.insert(key=key, value=value).on_conflict(
            conflict_target=[SyncState.key], update={SyncState.value: value}
        ).execute()


def last_sync_at() -> datetime | None:
    """When the bank sync last completed (UTC), or None if it never did."""
    value = get_state(STATE_LAST_SYNC_AT)
    return None if value is None else parse_utc_text(value)


def set_last_sync_at(when: datetime) -> None:
    """Record a completed bank sync (call it in the transaction of the last page)."""
    set_state(STATE_LAST_SYNC_AT, utc_text(when))


def local_day_start(now: datetime, tz: str = DEFAULT_TIMEZONE) -> datetime:
    """The start of `now`'s local day (in `tz`), as an aware UTC-comparable datetime."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


def local_day(now: datetime, tz: str = DEFAULT_TIMEZONE) -> str:
    """`now`'s local date as `YYYY-MM-DD` (the day of the daily cap and of refusals)."""
    return now.astimezone(ZoneInfo(tz)).date().isoformat()
