"""Small helpers every test module may use."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
_TICK = threading.Event()  # never set: wait() is an interruptible pause


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
             what: str = "condition") -> T:
    """Poll `predicate` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        _TICK.wait(interval)  # the poll interval of a bounded wait


def corpus_dir() -> Path:
    """The captured real PDUs in ``../shared/corpus/real-pdus`` beside the checkout.

    Fails loudly when they are missing: a test that silently found no files would prove nothing.
    """
    for candidate in (
        Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real-pdus",
        Path("/work/shared/corpus/real-pdus"),
    ):
        if (candidate / "decodes").is_dir():
            return candidate
    raise AssertionError("../shared/corpus/real-pdus is missing beside the checkout")


def submit_pending(client: object, rules: object, now: object, **kw: object) -> int:
    """flows.topups.submit_pending with the schema's retry defaults (the daemon passes the
    configured ones; the flow has none of its own)."""
    from appliance.config import BankSettings
    from appliance.flows import topups

    b = BankSettings(url="https://bank.example")
    policy: dict[str, object] = {"max_attempts": b.topup_max_attempts,
                                 "retry_after": b.topup_backoff_initial,
                                 "retry_max": b.topup_backoff_max}
    return topups.submit_pending(client, rules, now, **{**policy, **kw})  # type: ignore[arg-type]


def db_rows(db: Path | str, sql: str) -> list[tuple[object, ...]]:
    """Rows of `sql` read from the SQLite file `db` (or the PostgreSQL database its
    `postgresql://` URL names) by a connection of the test's own."""
    if isinstance(db, str) and db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as pg:
            return [tuple(r) for r in pg.execute(sql)]
    import sqlite3

    con = sqlite3.connect(db, timeout=5)
    try:
        return list(con.execute(sql))
    finally:
        con.close()
