"""The `database` key: a path (as before), or a `[database]` table with exactly one of
`path` (SQLite) and `url` (a shared PostgreSQL); a bad one is one line naming the key,
exit 2."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from appliance.config import DEFAULT_DATABASE, load, load_or_exit

REST = ('[[modems]]\nname = "vala"\nport = "/dev/ttyUSB0"\noperator = "vala"\n'
        '[bank]\nurl = "https://bank.example"\n')
URL = "postgresql://appliance@/appliance?host=/run/postgresql"


def _load(tmp_path: Path, head: str) -> tuple[Path, str | None]:
    path = tmp_path / "appliance.toml"
    path.write_text(head + "\n" + REST, encoding="utf-8")
    settings = load(path)
    return settings.database, settings.database_url


def test_top_level_path_still_works(tmp_path: Path) -> None:
    assert _load(tmp_path, 'database = "state/a.sqlite"') == (tmp_path / "state/a.sqlite", None)
    assert _load(tmp_path, "") == (DEFAULT_DATABASE, None)


def test_table_with_a_path(tmp_path: Path) -> None:
    assert _load(tmp_path, '[database]\npath = "b.sqlite"') == (tmp_path / "b.sqlite", None)


def test_table_with_a_url_keeps_local_files_in_state_dir(tmp_path: Path) -> None:
    assert _load(tmp_path, f'[database]\nurl = "{URL}"') == (
        DEFAULT_DATABASE.parent / "appliance.sqlite", URL)
    assert _load(tmp_path, f'[database]\nurl = "{URL}"\nstate_dir = "box1"') == (
        tmp_path / "box1" / "appliance.sqlite", URL)


BAD = [
    ("database = 5", "database: expected a path or a table, got 5"),
    (f'[database]\npath = "x.sqlite"\nurl = "{URL}"',
     "database: expected exactly one of path or url"),
    ("[database]", "database: expected exactly one of path or url"),
    ('[database]\nurl = "mysql://h/db"', "database.url: expected a postgresql:// URL naming "
                                         "a database"),
    ('[database]\nurl = "postgresql://h"', "database.url: expected a postgresql:// URL "
                                           "naming a database"),
    ('[database]\nurl = 7', "database.url: expected a postgresql:// URL, got 7"),
    ('[database]\npath = "x"\nstate_dir = "y"',
     "database.state_dir: only with url (a path's directory is its state dir)"),
    ('[database]\npth = "x"', 'database.pth: unknown key (did you mean "path"?)'),
    (f'database_url = "{URL}"', 'database_url: unknown key (did you mean "database"?)'),
]


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
def _tiny(path: Path) -> None:
    load_or_exit(path)
    click.echo("ok")


@pytest.mark.parametrize(("head", "message"), BAD, ids=[m.split(":")[0] + str(i)
                                                       for i, (_, m) in enumerate(BAD)])
def test_bad_database_is_one_line_and_exit_2(tmp_path: Path, head: str, message: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_LANG", "en")
    path = tmp_path / "appliance.toml"
    path.write_text(head + "\n" + REST, encoding="utf-8")
    result = CliRunner().invoke(_tiny, [str(path)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"appliance: config error: {message}\n"
