"""A box outlives its PostgreSQL going away (DESIGN §10, issue 14): a real `appliance run`
on a cluster of this test's own (the worker's shared one stays up for the other tests) is
answered, the cluster is stopped and started again under it, and the box catches up.

While the database is down a customer's message stays on the modem (I1); once it is back
the message is answered, once, within a bounded wait; the box re-takes the bank sync's
advisory lock (its old session died with the server), so a new movement is alerted; the
daemon never exits, and says so in one WARNING and one INFO rather than a line per turn.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import peewee
import pytest

from appliance.store.db import open_database, write_transaction
from appliance.store.errors import DatabaseUnavailable, StoreError
from appliance.store.leader import BANK_SYNC, Leadership
from appliance.store.reconnect import OUTAGE
from tests.conftest import DaemonProc, Fakes
from tests.helpers import db_rows, stored_messages, wait_for
from tests.pg import PgServer

ARBEN = "+38344123456"  # alerts from 500 EUR; account A1001
DRITA = "+38349234567"

pytestmark = pytest.mark.slow


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    server = PgServer()
    try:
        yield server.start()
    finally:
        if (server.data / "postmaster.pid").exists():
            server.stop()
        else:  # a test that failed while it was stopped
            shutil.rmtree(server.root, ignore_errors=True)


def _reads(fakes: Fakes) -> int:
    """How many times the daemon listed the modem's messages (of its last commands)."""
    return sum(1 for line, _ in fakes.modem.history() if "CMGL" in line.upper())


def _log(dp: DaemonProc) -> str:
    return dp.log_file.read_text(encoding="utf-8", errors="replace")


def test_a_box_catches_up_after_its_postgresql_restarts(
        fakes: Fakes, daemon_proc: DaemonProc, own_pg: PgServer) -> None:
    url = own_pg.fresh("reconnect")
    fakes.store_url = url
    fakes.config(inbox={"poll_interval": 1}, bank={"sync_interval": 1})
    daemon_proc.start()
    wait_for(lambda: db_rows(url, "SELECT value FROM sync_state "
                                  "WHERE key = 'bank.last_sync_at'"),
             timeout=30, what="the first bank sync")
    fakes.deliver(ARBEN, "B")
    assert len(fakes.wait_replies(ARBEN, timeout=30)) == 1

    outage_start, reads = len(_log(daemon_proc)), _reads(fakes)
    own_pg.stop_server()
    fakes.deliver(DRITA, "B")
    # The box notices (its workers' next turn), keeps the message on the SIM meanwhile:
    # looked at three times while the database is down, it is still there.
    wait_for(lambda: "the database is unreachable" in _log(daemon_proc), timeout=30,
             what="the box to notice the database is gone")
    wait_for(lambda: _reads(fakes) >= reads + 3, timeout=30,
             what="three reads of the modem while the database is down")
    assert len(stored_messages(fakes.modem)) == 1
    assert fakes.sent_to(DRITA) == []
    fakes.bank.book_movement("A1001", Decimal("-600.00"), "card_payment")  # meanwhile
    own_pg.start_server()

    assert len(fakes.wait_replies(DRITA, timeout=60)) == 1
    # The leader lock was re-taken: the movement booked meanwhile and one booked now are
    # alerted.
    fakes.bank.book_movement("A1001", Decimal("-700.00"), "card_payment")
    wait_for(lambda: len(fakes.sent_to(ARBEN)) == 3, timeout=60,
             what="two alerts synced after the restart")

    assert daemon_proc.proc is not None
    assert daemon_proc.proc.poll() is None, _log(daemon_proc)
    assert daemon_proc.stop() == 0
    assert len(fakes.sent_to(DRITA)) == 1
    assert len(fakes.sent_to(ARBEN)) == 3
    assert stored_messages(fakes.modem) == []
    assert db_rows(url, "SELECT state, COUNT(*) FROM inbound_message GROUP BY state") \
        == [("handled", 2)]
    log = _log(daemon_proc)
    # One WARNING when it went, one INFO when it came back; no tracebacks, no line a turn.
    assert log.count("the database is unreachable") == 1, log[outage_start - 2000:]
    assert log.count("the database is back") == 1, log[outage_start:]
    assert "Traceback" not in log, log[outage_start:]
    assert "unexpected error" not in log
    assert "the connection is closed" not in log
    outage = [line for line in log[outage_start:].splitlines()
              if " WARNING " in line or " ERROR " in line]
    assert len(outage) <= 5, "\n".join(outage)


# --- the store's seam, on the worker's shared server (sessions ended, never the server) --

def _end_sessions(url: str, where: str = "pid <> pg_backend_pid()") -> None:
    """End the database's other sessions from outside, as a server restart does to all."""
    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    db_rows(url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 f"WHERE datname = '{name}' AND {where}")


@pytest.fixture
def pg_db(pg_server: Any) -> Iterator[tuple[str, peewee.Database]]:
    url = str(pg_server.fresh("seam"))
    db = open_database(url)
    try:
        yield url, db
    finally:
        db.close()


def test_a_statement_after_the_session_ended_runs_on_a_new_one(
        pg_db: tuple[str, peewee.Database]) -> None:
    url, db = pg_db
    before = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    _end_sessions(url)
    # Outside a transaction the server refused it unrun: tried again on a new session.
    after = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    assert after != before
    assert not OUTAGE.down


def test_a_transaction_cut_off_fails_as_a_store_error_and_the_next_one_works(
        pg_db: tuple[str, peewee.Database]) -> None:
    url, db = pg_db
    def cut_off() -> None:
        with write_transaction():
            db.execute_sql("INSERT INTO sync_state (key, value) VALUES ('t.cut', 'x')")
            _end_sessions(url)
            db.execute_sql("INSERT INTO sync_state (key, value) VALUES ('t.cut2', 'y')")

    with pytest.raises(DatabaseUnavailable) as raised:
        cut_off()
    # The workers' StoreError path, and still the OperationalError the flows re-raise.
    assert isinstance(raised.value, StoreError)
    assert isinstance(raised.value, peewee.OperationalError)
    assert OUTAGE.down  # told once; the next statement that works says it is back
    with write_transaction():  # a new session, without anyone reconnecting by hand
        db.execute_sql("INSERT INTO sync_state (key, value) VALUES ('t.next', 'z')")
    assert not OUTAGE.down
    assert db_rows(url, "SELECT key FROM sync_state WHERE key LIKE 't.%'") == [("t.next",)]


def test_the_leader_takes_its_lock_again_after_its_session_ended(
        pg_db: tuple[str, peewee.Database]) -> None:
    url, _db = pg_db
    leader = Leadership(BANK_SYNC, "the bank sync")
    try:
        assert leader.held()
        _end_sessions(url)  # its lock session too: the lock is free
        wait_for(leader.held, timeout=10, what="the lock taken again")
        held = db_rows(url, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND granted")
        assert held == [(1,)]
    finally:
        leader.close()
