"""Work that one box of a fleet does at a time (the bank sync, DESIGN §10).

On PostgreSQL a `Leadership` holds a session advisory lock on a connection of its own,
kept open while the box lives: the box that holds it does the work, the others look
again each time. A box that dies (even SIGKILL) closes that connection, which releases
the lock, so the next box to look takes over. A restarted server ends every session:
each box's next look finds its own gone and tries the lock again on a new one, and one
of them wins. On SQLite there is one box: it leads.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import psycopg

from appliance.store.dialect import is_postgres
from appliance.store.models import database

log = logging.getLogger(__name__)

# pg_advisory_lock keys of the work one box does at a time ("appl" "sync" in ASCII).
BANK_SYNC = 0x6170706C_73796E63


class Leadership:
    """Whether this box does the work named by `key` now (`held()`); `close()` gives it up."""

    def __init__(self, key: int, what: str) -> None:
        self.key = key
        self.what = what  # for the log: "the bank sync"
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._held = False
        self._said_lost = False
        self._lock = threading.Lock()

    def held(self) -> bool:
        """True when this box holds the work: on SQLite always; on PostgreSQL when the
        lock is ours or could be taken now. A lost connection loses it (False)."""
        if not is_postgres(database):
            return True
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    real = database.obj
                    self._conn = psycopg.connect(real.database, autocommit=True,
                                                 **real.connect_params)
                    self._held = False
                if self._held:
                    # Still ours while the session lives; a server restart ends it (and
                    # the lock), which this statement finds out: then it is taken anew.
                    self._conn.execute("SELECT 1")
                    return True
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                         (self.key,)).fetchone()
                self._held = bool(row and row[0])
                self._said_lost = False  # a session again: the next loss is news
                if self._held:
                    log.info("this box now does %s (the others leave it to this one)",
                             self.what)
                return self._held
            except psycopg.Error as exc:
                # Once per loss: while the database is away every look fails alike.
                if self._held or not self._said_lost:
                    log.warning("cannot tell whether this box does %s (%s): it does not "
                                "now, and asks again", self.what, " ".join(str(exc).split()))
                    self._said_lost = True
                self._drop()
                return False

    def close(self) -> None:
        """Give the work up (the lock goes with the connection)."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None
        self._held = False
