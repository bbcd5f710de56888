"""Modems of all boxes (DESIGN §10), on SQLite and PostgreSQL: each box's heartbeat rows,
the other boxes' fresh ones, a dead box dropping out, and a modem name used twice; and the
fleet's routing over them: the recipient's operator's modem on any box, then any."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.core.rules import Rules
from appliance.flows.fleet import STALE, FleetRouting
from appliance.flows.inbound import SingleModem
from appliance.store.presence import Presence, other_boxes_modems, report_modems

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
VALA_PHONE = "+38344123456"
IPKO_PHONE = "+38349234567"


def test_each_box_sees_the_others_fresh_modems(db: Any) -> None:
    assert report_modems("a", [("a-vala", "vala", True)], NOW, STALE) == []
    assert report_modems("b", [("b-ipko", "ipko", True), ("b-vala", "vala", False)], NOW,
                         STALE) == []
    assert other_boxes_modems("a", NOW, STALE) == [
        Presence("b-ipko", "b", "ipko", True), Presence("b-vala", "b", "vala", False)]
    assert other_boxes_modems("b", NOW, STALE) == [Presence("a-vala", "a", "vala", True)]
    # b stops reporting (dead): after STALE its modems are gone for a.
    later = NOW + STALE + timedelta(seconds=1)
    report_modems("a", [("a-vala", "vala", True)], later, STALE)
    assert other_boxes_modems("a", later, STALE) == []


def test_a_modem_name_another_box_reports_is_not_taken_over(db: Any) -> None:
    report_modems("a", [("vala", "vala", True)], NOW, STALE)
    assert report_modems("b", [("vala", "vala", True)], NOW, STALE) == ["vala"]
    assert other_boxes_modems("b", NOW, STALE) == [Presence("vala", "a", "vala", True)]
    # Once a's row is stale (a is gone for good), b may use the name.
    later = NOW + STALE + timedelta(seconds=1)
    assert report_modems("b", [("vala", "vala", True)], later, STALE) == []


def _routing(box: str, modems: Sequence[tuple[str, str | None, bool]],
             now: datetime) -> FleetRouting:
    return FleetRouting(SingleModem(), lambda: modems, box, Rules().numbering_plan,
                        lambda: now)


def test_replies_prefer_the_recipients_operator_on_any_box(db: Any) -> None:
    a = _routing("a", [("a-vala", "vala", True)], NOW)
    b = _routing("b", [("b-ipko", "ipko", True)], NOW)
    a.heartbeat()
    b.heartbeat()
    a.heartbeat()  # a reads b's row now
    assert len(a) == 2
    assert a.route(IPKO_PHONE) == "b-ipko"  # on-net through the other box
    assert a.route(VALA_PHONE) is None  # on-net here: this box's one modem takes it
    assert a.excluded_for("a-vala") == {"b-ipko"}  # b's rows wait for b
    assert b.route(VALA_PHONE) == "a-vala"


def test_a_dead_boxs_modems_keep_nothing_waiting(db: Any) -> None:
    b = _routing("b", [("b-ipko", "ipko", True)], NOW)
    b.heartbeat()
    later = NOW + STALE + timedelta(seconds=1)
    a = _routing("a", [("a-vala", "vala", True)], later)
    a.heartbeat()
    assert a.route(IPKO_PHONE) is None  # any healthy modem, as b is gone
    assert a.excluded_for("a-vala") == set()
    assert len(a) == 1


def test_an_unhealthy_modem_of_another_box_is_not_preferred(db: Any) -> None:
    _routing("b", [("b-ipko", "ipko", False)], NOW).heartbeat()
    a = _routing("a", [("a-vala", "vala", True)], NOW)
    a.heartbeat()
    assert a.route(IPKO_PHONE) is None
    assert a.excluded_for("a-vala") == set()
