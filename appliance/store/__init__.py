"""Local database: peewee models over SQLite (WAL), migrations and typed queries."""

from appliance.store.db import StoreError, database, open_database, write_transaction, writing

__all__ = ["StoreError", "database", "open_database", "write_transaction", "writing"]
