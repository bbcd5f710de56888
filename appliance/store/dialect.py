"""The one place the store's SQL differs between SQLite and PostgreSQL.

The store writes its fixed SQL once, with `?` placeholders and portable constructs
(`UPDATE … RETURNING`, `ON CONFLICT … DO NOTHING/UPDATE`, text times and money). On
PostgreSQL, `Postgres` (peewee's psycopg 3 database) turns `?` into psycopg's `%s` as a
statement is executed, and takes SQLite's `BEGIN IMMEDIATE` as a plain transaction: the
unique keys, `ON CONFLICT` and row locks do there what SQLite's one write lock does.
"""

from __future__ import annotations

import functools
from typing import Any

import peewee
from playhouse.psycopg3_ext import Psycopg3Database

from appliance.store.reconnect import Reconnecting


@functools.lru_cache(maxsize=1024)
def postgres_sql(sql: str) -> str:
    """`sql` with psycopg's placeholders. peewee's own SQL (already `%s`) is unchanged;
    a literal `%` of ours is doubled, as psycopg reads `%` as a placeholder's start."""
    if "?" not in sql or "%s" in sql:
        return sql
    return sql.replace("%", "%%").replace("?", "%s")


class Postgres(Reconnecting, Psycopg3Database):  # type: ignore[misc]
    """peewee's psycopg 3 database, taking the store's portable SQL, and a new session
    when the server ended the last one (store/reconnect.py)."""

    def execute_sql(self, sql: str, params: Any = None, commit: Any = None) -> Any:
        run = super().execute_sql
        return self.guarded(lambda: run(postgres_sql(sql), params))

    def begin(self, lock_type: str | None = None, isolation_level: str | None = None) -> None:
        # `lock_type` is SQLite's (IMMEDIATE); a PostgreSQL transaction locks rows it writes.
        del lock_type
        start = super().begin
        self.guarded(lambda: start(isolation_level))


def is_postgres(db: peewee.Database) -> bool:
    """True for a PostgreSQL database (bound or behind the models' proxy)."""
    real = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    return isinstance(real, peewee.PostgresqlDatabase)


def executemany(db: peewee.Database, sql: str, rows: list[tuple[Any, ...]]) -> int:
    """One statement over many rows on the current connection (and transaction); peewee's
    error classes, as `execute_sql` raises them. Returns the rows changed."""
    def run() -> int:
        with peewee.__exception_wrapper__:
            cursor = db.cursor()
            cursor.executemany(sql, rows)
        return int(cursor.rowcount)

    real = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    if isinstance(real, Postgres):
        sql = postgres_sql(sql)
        return real.guarded(run)
    return run()
