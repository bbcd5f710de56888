"""`appliance backup`: online copy while another connection writes, verify, prune."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.ops.backup import backup_database, backup_name, backups_to_remove
from appliance.store.db import open_database
from tests.helpers import wait_for

NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)


def test_names_sort_by_time() -> None:
    assert backup_name(NOW) == "appliance-20261127T023000Z.sqlite"


def test_prune_keeps_n_days_and_never_the_newest() -> None:
    names = [backup_name(NOW - timedelta(days=d)) for d in range(20)]
    names += ["notes.txt", "appliance-garbage.sqlite"]
    gone = backups_to_remove(names, NOW, keep_days=14)
    assert sorted(gone) == sorted(backup_name(NOW - timedelta(days=d)) for d in range(15, 20))
    # All old: the newest survives anyway (a box that was off for a month keeps one copy).
    old = [backup_name(NOW - timedelta(days=d)) for d in (40, 50)]
    assert backups_to_remove(old, NOW, keep_days=14) == [old[1]]
    assert backups_to_remove([], NOW, 1) == []


def _make_db(path: Path, rows: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    con.executemany("INSERT INTO t (body) VALUES (?)", [("x" * 200,)] * rows)
    con.commit()
    con.close()


def test_online_backup_while_a_writer_commits(tmp_path: Path) -> None:
    db = tmp_path / "appliance.sqlite"
    _make_db(db, 2000)
    stop = threading.Event()
    written = []

    def writer() -> None:
        con = sqlite3.connect(db, timeout=10)
        while not stop.is_set():
            con.execute("INSERT INTO t (body) VALUES ('y')")
            con.commit()
            written.append(1)
        con.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(written) > 5, timeout=10, what="the writer committing")
        result = backup_database(db, tmp_path / "backups", NOW, keep_days=14)
    finally:
        stop.set()
        thread.join(10)
    assert result.path.name == backup_name(NOW)
    assert oct(result.path.stat().st_mode & 0o777) == "0o600"
    copy = sqlite3.connect(result.path)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file
    count = copy.execute("SELECT COUNT(*) FROM t").fetchone()[0]
    copy.close()
    assert 2000 < count <= 2000 + len(written)
    assert not list((tmp_path / "backups").glob(".*partial"))


def test_missing_database(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        backup_database(tmp_path / "none.sqlite", tmp_path / "b", NOW, 14)
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_broken_database_leaves_no_copy(tmp_path: Path) -> None:
    db = tmp_path / "appliance.sqlite"
    db.write_bytes(b"definitely not sqlite" * 50)
    with pytest.raises(sqlite3.DatabaseError):
        backup_database(db, tmp_path / "b", NOW, 14)
    assert list((tmp_path / "b").iterdir()) == []


def test_backup_command(tmp_path: Path) -> None:
    db = tmp_path / "state" / "appliance.sqlite"
    db.parent.mkdir()
    open_database(db).close()
    backups = db.parent / "backups"
    backups.mkdir()
    stale = backups / backup_name(datetime.now(UTC) - timedelta(days=30))
    stale.write_bytes(b"old")
    config = tmp_path / "appliance.toml"
    config.write_text(
        f'database = "{db}"\n[[modems]]\nname = "v"\nport = "/dev/null"\noperator = "vala"\n'
        '[bank]\nurl = "https://bank.example"\n')
    result = CliRunner().invoke(main, ["backup", "--config", str(config), "--keep", "7"])
    assert result.exit_code == 0, result.output
    copies = sorted(backups.glob("appliance-*.sqlite"))
    assert len(copies) == 1
    assert not stale.exists()
    assert "removed 1" in result.stdout
    con = sqlite3.connect(copies[0])
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert "outbox_message" in tables


def test_backup_command_without_database(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text(
        f'database = "{tmp_path / "none.sqlite"}"\n[[modems]]\nname = "v"\n'
        'port = "/dev/null"\noperator = "vala"\n[bank]\nurl = "https://bank.example"\n')
    result = CliRunner().invoke(main, ["backup", "--config", str(config)])
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


def test_keep_must_be_positive(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["backup", "--config", str(tmp_path / "x.toml"),
                                       "--keep", "0"])
    assert result.exit_code == 2
