"""`doctor`, `status` and `backup` with `[database] url`: they open the shared PostgreSQL
(never migrating it), say when it cannot be opened without showing the password, and
`backup` dumps it with PostgreSQL's own pg_dump."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from appliance.config import load
from appliance.ops import pgbackup
from appliance.ops.checks import Status
from appliance.ops.cli import backup_command
from appliance.ops.doctor import database_checks
from appliance.ops.status import gather_status
from appliance.store import open_database, queries
from appliance.web.server import serve
from appliance.web.signal import SignalHistory

REST = ('[[modems]]\nname = "vala"\nport = "/dev/ttyUSB0"\noperator = "vala"\n'
        '[bank]\nurl = "https://bank.example"\n')


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(f'[database]\nurl = "{url}"\nstate_dir = "{tmp_path}"\n\n' + REST,
                    encoding="utf-8")
    return path


def test_doctor_opens_the_shared_database(pg_server: Any) -> None:
    facts = database_checks(Path("/nonexistent/appliance.sqlite"), pg_server.fresh())
    try:
        assert [c.status for c in facts.checks] == [Status.OK]
        assert facts.usable
        assert "postgresql://" in facts.checks[0].detail
    finally:
        if facts.handle is not None:
            facts.handle.close()


def test_doctor_fails_the_row_when_it_cannot_open_and_hides_the_password(
        pg_server: Any) -> None:
    url = f"postgresql://appliance:s3cret@/nothere?host={pg_server.root}/none"
    facts = database_checks(Path("/nonexistent/appliance.sqlite"), url)
    assert [c.status for c in facts.checks] == [Status.FAIL]
    assert not facts.usable
    assert "s3cret" not in facts.checks[0].detail


def test_status_reads_the_shared_database(tmp_path: Path, pg_server: Any) -> None:
    url = pg_server.fresh()
    db = open_database(url)
    now = datetime.now(UTC)
    queries.enqueue_outbox("+38344123456", "B", "reply", now)
    db.close()
    report = gather_status(load(_config(tmp_path, url)), now)
    assert report["outbox"]["by_state"]["queued"] == 1
    assert report["database"].startswith("postgresql://")


def test_backup_of_a_shared_database_dumps_it_with_pg_dump(
        tmp_path: Path, pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`appliance backup` with `[database] url`: a pg_dump (custom format) under the box's
    state_dir, read back by pg_restore, private to the service user; old copies pruned."""
    monkeypatch.setenv("APPLIANCE_LANG", "en")
    url = pg_server.fresh()
    db = open_database(url)
    queries.enqueue_outbox("+38344123456", "Bilanci i ruajtur", "reply", datetime.now(UTC))
    db.close()
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    old = backups / "appliance-20000101T000000Z.pgdump"
    old.write_bytes(b"old")
    other = backups / "appliance-20000101T000000Z.sqlite"  # a SQLite copy: not ours here
    other.write_bytes(b"old")
    result = CliRunner().invoke(backup_command, ["--config", str(_config(tmp_path, url))])
    assert result.exit_code == 0, result.stderr
    dumps = sorted(backups.glob("appliance-*.pgdump"))
    assert len(dumps) == 1
    assert dumps[0] != old
    assert "removed 1 old copies" in result.stdout
    assert other.exists()
    assert dumps[0].stat().st_mode & 0o077 == 0
    restore = pgbackup.pg_tool("pg_restore")
    assert restore is not None
    data = subprocess.run([str(restore), "--data-only", "--table=outbox_message", "-f", "-",
                           str(dumps[0])], capture_output=True, text=True, check=True)
    assert "Bilanci i ruajtur" in data.stdout


def test_backup_of_a_shared_database_without_pg_dump_says_what_to_install(
        tmp_path: Path, pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_LANG", "en")
    monkeypatch.setenv("APPLIANCE_PG_BIN", str(tmp_path / "nothing"))
    result = CliRunner().invoke(backup_command,
                                ["--config", str(_config(tmp_path, pg_server.fresh()))])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "appliance: backup: pg_dump not found: install postgresql-client (the server's "
        "major version) or set APPLIANCE_PG_BIN"]
    assert list((tmp_path / "backups").glob("*")) == []


def test_backup_of_an_unreachable_shared_database_fails_in_one_line(
        tmp_path: Path, pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_LANG", "en")
    url = f"postgresql://appliance@/nothere?host={pg_server.root}/none"
    result = CliRunner().invoke(backup_command, ["--config", str(_config(tmp_path, url))])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("appliance: backup failed: pg_dump: ")
    assert list((tmp_path / "backups").glob("*")) == []


def test_metrics_and_status_page_read_the_shared_database(tmp_path: Path,
                                                          pg_server: Any) -> None:
    url = pg_server.fresh()
    db = open_database(url)
    queries.enqueue_outbox("+38344123456", "B", "reply", datetime.now(UTC))
    db.close()
    server = serve("127.0.0.1:0", load(_config(tmp_path, url)), history=SignalHistory())
    try:
        metrics = httpx.get(server.metrics_url, timeout=10).text
        assert 'appliance_outbox_queued{priority="reply"} 1.0' in metrics
        assert "appliance_store_up 1.0" in metrics
        assert httpx.get(server.status_url, timeout=10).status_code == 200
    finally:
        server.close()
