"""Invariant 1 against the two ways it can break that the crash points cannot see.

- The store fails for real (the database file is read-only; the database is full): every
  message stays on the modem, and is answered once the store works again. A flow that
  swallowed the store's error and deleted anyway would lose them.
- The daemon is SIGKILLed while the modem is executing `AT+CMGD` (the fake modem deletes
  at once and holds its answer back): every message it deleted was committed before, so a
  restart loses nothing and answers each exactly once. A flow that deleted before it
  committed would lose the first message. These tests kill from outside, at the modem's
  command, so they do not depend on where the code places its named crash points.

Real parts throughout: `appliance run` in a subprocess (or the inbox over a real `Modem`),
the fake modem on a pty, the fake bank over HTTP, a SQLite file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest

from appliance.core.rules import Rules
from appliance.flows.inbound import Inbox, InboxPolicy
from appliance.modem.pool import ModemHandle
from appliance.modem.wrapper import Modem
from appliance.store.db import open_database
from appliance.store.models import InboundMessage, database
from tests.conftest import DaemonProc, Fakes
from tests.helpers import stored_messages, wait_for

ASKS = (("+38344123456", "B"), ("+38345345678", "BK"), ("+38349234567", "B"))


def _deliver_all(fakes: Fakes) -> None:
    for phone, text in ASKS:
        fakes.deliver(phone, text)
    assert len(fakes.modem.stored()) == len(ASKS)


def _answered_once_after_restart(fakes: Fakes, dp: DaemonProc) -> None:
    dp.start()
    wait_for(lambda: all(fakes.sent_to(p) for p, _ in ASKS), timeout=30,
             what="every message answered")
    assert dp.stop() == 0
    for phone, _ in ASKS:
        assert len(fakes.sent_to(phone)) == 1, f"{phone[:6]}… answered twice"
    assert stored_messages(fakes.modem) == []


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make `path` read-only for real, whoever runs the test: as root, permission bits do
    not stop a write, so the file is made immutable (`chattr +i`) instead."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)


def test_a_read_only_database_leaves_every_message_on_the_modem(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    fakes.config()
    db_file = fakes.tmp / "appliance.sqlite"
    open_database(db_file).close()  # migrated, so opening it read-only needs no write
    _deliver_all(fakes)
    with _read_only(db_file):
        daemon_proc.start()
        # Two inbox turns that each failed to store the messages.
        wait_for(lambda: daemon_proc.log_file.read_text(encoding="utf-8").count(
            "inbox: unexpected error") >= 2, timeout=20, what="the store refusing writes")
        assert "attempt to write a readonly database" in daemon_proc.log_file.read_text(
            encoding="utf-8")
        assert len(fakes.modem.stored()) == len(ASKS), "a message left the modem unstored"
        assert not any("+CMGD" in line for line, _ in fakes.modem.history())
        assert daemon_proc.stop() == 0
    _answered_once_after_restart(fakes, daemon_proc)


def _fill() -> None:
    """Fill the open database up to its `max_page_count` (statements that fail roll back
    alone): every page, table and index, ends with less room than a 1-byte row needs."""
    n = 0
    for size in (2000, 500, 120, 30, 8, 1):
        while True:
            n += 1
            try:
                with database.atomic():
                    InboundMessage.insert(
                        modem="x", storage="SM", storage_index=0, pdu="00", text="x" * size,
                        received_at=datetime.now(UTC), dedupe_key=f"f{n}", state="ignored",
                    ).execute()
            except peewee.OperationalError as exc:
                if "full" not in str(exc):
                    raise
                break


def test_a_full_database_leaves_every_message_on_the_modem(fakes: Fakes, tmp_path: Path,
                                                           ) -> None:
    db_file = tmp_path / "full.sqlite"
    db = open_database(db_file)
    handle = ModemHandle("m1", None, lambda _h: Modem(str(fakes.modem_link), command_timeout=3))
    handle.open()
    inbox = Inbox(InboxPolicy(rules=Rules(), multipart_timeout=timedelta(seconds=60)),
                  lambda: datetime.now(UTC))
    try:
        pages = int(database.execute_sql("PRAGMA page_count").fetchone()[0])
        database.execute_sql(f"PRAGMA max_page_count = {pages + 2}")
        _fill()
        _deliver_all(fakes)
        with pytest.raises(peewee.OperationalError, match="full"):
            inbox.collect(handle)
        assert len(fakes.modem.stored()) == len(ASKS), "a message left the modem unstored"
        assert not any("+CMGD" in line for line, _ in fakes.modem.history())
        # Room again: the same messages are stored, then (only then) deleted.
        database.execute_sql("PRAGMA max_page_count = 1073741823")
        assert inbox.collect(handle) == len(ASKS)
        assert stored_messages(fakes.modem) == []
        senders = {r.sender for r in InboundMessage.select().where(
            InboundMessage.state == "stored")}
        assert senders == {p for p, _ in ASKS}
    finally:
        handle.close()
        db.close()


def test_a_kill_while_the_modem_deletes_loses_nothing_and_answers_once(
        fakes: Fakes, daemon_proc: DaemonProc) -> None:
    fakes.config()
    _deliver_all(fakes)
    # The modem deletes at once but answers AT+CMGD 2 s later: the daemon is caught there,
    # in its delete of the listing's messages (all three in one AT+CMGD=0,1), and
    # killed long before the answer.
    fakes.modem.fault("late", match="+CMGD", delay=2, count=1)
    daemon_proc.start()
    wait_for(lambda: any("+CMGD" in line for line, _ in fakes.modem.history()),
             timeout=20, what="the daemon deleting from the modem")
    daemon_proc.kill()
    assert fakes.modem.stored() == []  # the modem did delete them
    assert [line for line, _ in fakes.modem.history() if "+CMGD" in line] == ["AT+CMGD=0,1"]
    con = sqlite3.connect(fakes.tmp / "appliance.sqlite", timeout=5)
    try:
        stored = {r[0] for r in con.execute("SELECT sender FROM inbound_message")}
    finally:
        con.close()
    assert stored == {p for p, _ in ASKS}, "a message deleted from the modem was not committed"
    fakes.modem.reset_faults()
    _answered_once_after_restart(fakes, daemon_proc)
