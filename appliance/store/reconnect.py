"""A box outlives its PostgreSQL going away (DESIGN §10): a dead session is replaced by
a new one on the next use instead of failing every statement after ("the connection is
closed", for ever), and the outage is told once.

peewee's `playhouse.shortcuts.ReconnectMixin` does this for MySQL by matching error
texts; here psycopg itself says whether the session is dead (`conn.closed` once libpq
marks it bad), which no message wording can break. A statement that failed outside a
transaction is tried once more on a new session only when the server refused it for
shutting down (it ran nothing); one inside a transaction is never retried: the
transaction fails as `DatabaseUnavailable`, and its flow takes it again on its next turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import peewee
import psycopg.errors

from appliance.store.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a thread waits before its next try while the database is away: growing with
# the outage, so a long one costs a look every few seconds, a short one is caught at once.
RETRY_MIN = 0.5
RETRY_MAX = 5.0

# The server ended the session or refused it while stopping: the statement never ran.
_NOT_RUN = (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown,
            psycopg.errors.CannotConnectNow)


class Outage:
    """Whether this process has lost its database: one WARNING when it goes, one INFO
    when it is back (every thread reports here; only the first of each is logged)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def gone(self, exc: BaseException) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        log.warning("the database is unreachable (%s): stored messages stay on the modem "
                    "and queued ones in the database; trying again", _reason(exc))

    def back(self) -> None:
        if self._since is None:  # the hot path: no lock
            return
        with self._lock:
            if self._since is None:
                return
            lasted = time.monotonic() - self._since
            self._since = None
        log.info("the database is back after %.0f s: catching up", lasted)

    def retry_in(self) -> float:
        """Seconds a worker waits before trying the database again."""
        since = self._since
        if since is None:
            return RETRY_MIN
        return min(RETRY_MAX, max(RETRY_MIN, (time.monotonic() - since) / 2))


OUTAGE = Outage()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _driver_error(exc: BaseException) -> BaseException | None:
    """The psycopg error peewee wrapped into `exc` (its first argument), if any."""
    cause = exc.args[0] if exc.args else None
    return cause if isinstance(cause, psycopg.Error) else exc.__context__


class Reconnecting(peewee.Database):  # type: ignore[misc]
    """Mixed in before peewee's psycopg 3 database (`dialect.Postgres`)."""

    def session_lost(self) -> bool:
        """True when this thread has no live session: never opened (a connect failed) or
        ended by the server."""
        if self._state.closed:
            return True
        return bool(self._state.conn.closed)

    def _drop_dead_session(self) -> None:
        if not self._state.closed and self._state.conn.closed and not self.in_transaction():
            try:
                self.close()
            except peewee.PeeweeException:
                self._state.reset()

    def guarded(self, func: Callable[[], T]) -> T:
        """`func()` (one statement, BEGIN or COMMIT) on a live session: a dead one is
        replaced first, outside a transaction; a lost one fails as DatabaseUnavailable."""
        self._drop_dead_session()
        try:
            result = func()
        except peewee.PeeweeException as exc:
            if not self.session_lost():
                raise  # the statement's own error, on a live session
            if self.in_transaction() or not isinstance(_driver_error(exc), _NOT_RUN):
                OUTAGE.gone(exc)
                raise DatabaseUnavailable(_reason(exc)) from exc
            self._drop_dead_session()
            try:
                result = func()
            except peewee.PeeweeException as again:
                if not self.session_lost():
                    raise
                OUTAGE.gone(again)
                raise DatabaseUnavailable(_reason(again)) from again
        OUTAGE.back()
        return result

    def rollback(self) -> None:
        # The server rolled a lost session's transaction back itself; saying ROLLBACK on
        # it would only replace the error that ended the transaction with another.
        if self.session_lost():
            return
        super().rollback()

    def commit(self) -> None:
        self.guarded(super().commit)
