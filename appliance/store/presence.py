"""Which modems the boxes sharing this database have (DESIGN §10): each box writes a
heartbeat row per modem (`modem_presence`), and reads the others' fresh rows to route
replies to the recipient's operator's modem on any box."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.store.db import writing
from appliance.store.fields import utc_text
from appliance.store.models import database

# A modem's row names its box; another box's fresh row for the same name is not
# overwritten (two boxes must not share a modem name: reports are matched by it).
_REPORT_SQL = (
    'INSERT INTO modem_presence (name, box, operator, healthy, seen_at) '
    'VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET box = excluded.box, '
    'operator = excluded.operator, healthy = excluded.healthy, seen_at = excluded.seen_at '
    'WHERE modem_presence.box = excluded.box OR modem_presence.seen_at < ?'
)
_LIVE_SQL = (
    "SELECT name, box, operator, healthy FROM modem_presence "
    "WHERE box <> ? AND seen_at >= ? ORDER BY name"
)


@dataclass(frozen=True)
class Presence:
    """A modem of another box, as its box last reported it."""

    name: str
    box: str
    operator: str | None
    healthy: bool


def report_modems(box: str, modems: Sequence[tuple[str, str | None, bool]], now: datetime,
                  stale: timedelta) -> list[str]:
    """Record this box's modems (name, SIM operator, healthy) as seen `now`; returns the
    names another box reported within `stale` (a name used twice: not recorded)."""
    taken: list[str] = []
    stamp, old = utc_text(now), utc_text(now - stale)
    with writing():
        for name, operator, healthy in modems:
            cursor = database.execute_sql(_REPORT_SQL, [name, box, operator, int(healthy),
                                                        stamp, old])
            if cursor.rowcount == 0:
                taken.append(name)
    return taken


def other_boxes_modems(box: str, now: datetime, stale: timedelta) -> list[Presence]:
    """The modems of the other boxes seen within `stale` (a box that died drops out)."""
    return [Presence(str(name), str(owner), None if op is None else str(op), bool(healthy))
            for name, owner, op, healthy in database.execute_sql(
                _LIVE_SQL, [box, utc_text(now - stale)]).fetchall()]
