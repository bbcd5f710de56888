"""One box syncs the bank at a time (DESIGN §10): on PostgreSQL a session advisory lock
that a dead box's closed connection releases; on SQLite the one box always leads."""

from __future__ import annotations

from typing import Any

from appliance.store.db import is_postgres
from appliance.store.leader import BANK_SYNC, Leadership
from tests.helpers import wait_for


def test_one_box_leads_and_another_takes_over_when_it_dies(db: Any) -> None:
    first, second = Leadership(BANK_SYNC, "the bank sync"), Leadership(BANK_SYNC, "the bank sync")
    try:
        assert first.held()
        if not is_postgres(db):
            assert second.held()  # one box alone: it is always the one
            return
        assert not second.held()
        assert first.held()  # still its own, asked again
        # The leader's box dies: the server ends its session, as a SIGKILL would.
        db.execute_sql("SELECT pg_terminate_backend(pid) FROM pg_locks "
                       "WHERE locktype = 'advisory' AND granted")
        wait_for(second.held, timeout=10, what="the second box to take over")
        assert not first.held()  # the old leader, back, finds it taken
    finally:
        first.close()
        second.close()


def test_a_leader_that_gives_up_lets_the_next_one_lead(db: Any) -> None:
    first, second = Leadership(BANK_SYNC, "the bank sync"), Leadership(BANK_SYNC, "the bank sync")
    try:
        assert first.held()
        first.close()
        assert second.held()
    finally:
        second.close()
