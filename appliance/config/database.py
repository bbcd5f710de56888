"""The `database` key: a SQLite file (`database = "path"`, or `[database] path`) or a
PostgreSQL database shared by several boxes (`[database] url`), exactly one of the two.

`Settings.database` stays the local file's path either way: beside it the box keeps its
own files (health snapshot, backups). With `url` that is `state_dir/appliance.sqlite`,
a file that is never created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import ValidationError, model_validator

from appliance.config.section import Section
from appliance.config.values import (
    ERROR_TYPE,
    OptionalPath,
    PostgresUrl,
    fail_at,
    show,
)

# The local file's name under `state_dir` (only its directory is used with a url).
LOCAL_NAME = "appliance.sqlite"


class DatabaseTable(Section):
    """`[database]`: where the store lives."""

    path: OptionalPath = None
    url: PostgresUrl | None = None
    # With `url`: where this box keeps its own files. Default: the default database's dir.
    state_dir: OptionalPath = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.path is None) == (self.url is None):
            fail_at((), "expected exactly one of path or url", "a table")
        if self.state_dir is not None and self.url is None:
            fail_at(("state_dir",), "only with url (a path's directory is its state dir)",
                    str(self.state_dir))
        return self


def split_database(data: dict[str, object], context: object,
                   default: Path) -> tuple[dict[str, object], str | None]:
    """The raw settings with a `[database]` table replaced by its local path, and the
    PostgreSQL URL it names (None: SQLite). Errors name `database.<key>`."""
    if "database_url" in data:  # the url is read from the table only
        fail_at(("database_url",), 'unknown key (did you mean "database"?)',
                data["database_url"])
    raw = data.get("database")
    if raw is None or isinstance(raw, str):
        return data, None
    if not isinstance(raw, dict):
        fail_at(("database",), f"expected a path or a table, got {show(raw)}", raw)
    try:
        table = DatabaseTable.model_validate(raw, context=context)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"] if error["type"] == ERROR_TYPE else \
            f"expected a valid value, got {show(error['input'])}"
        fail_at(("database", *error["loc"]), message, error["input"])
    if table.path is not None:
        local = table.path
    else:
        local = (table.state_dir or default.parent) / LOCAL_NAME
    return {**data, "database": str(local)}, table.url
