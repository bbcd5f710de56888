"""What the store raises when the database itself fails (not a query's own error)."""

from __future__ import annotations

import peewee


class StoreError(RuntimeError):
    """The database cannot be opened, migrated or reached."""


class DatabaseUnavailable(StoreError, peewee.OperationalError):  # type: ignore[misc]
    """The PostgreSQL session was lost, or no new one can be opened (the server stopped or
    restarted, the network went). Still a `peewee.OperationalError`, so the flows that
    leave everything for the next turn on one do so here too; nothing of the failed
    transaction was committed unless its COMMIT itself was cut off (the flows' unique keys
    and the modem's copy cover that, as for a crash)."""
