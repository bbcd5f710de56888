"""Routing across the boxes of a fleet (DESIGN §3, §10): a reply prefers the modem of
its recipient's operator on any box, then any healthy modem.

`FleetRouting` wraps this box's own routing (the modem pool) with the other boxes' modems
as their heartbeats show them (`store.presence`): a row preferring a healthy modem of
another box is left to that box; once that box stops reporting (dead), its rows are
anyone's again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

from appliance.core.phones import on_net, operator_of
from appliance.core.rules import Operator
from appliance.flows.ports import Clock, Routing
from appliance.store import outbox, presence

log = logging.getLogger(__name__)

# How often a box reports its modems, and how long a report stays fresh (a box that
# misses three heartbeats is taken for dead: its modems no longer keep rows waiting).
HEARTBEAT = timedelta(seconds=5)
STALE = HEARTBEAT * 3

# (name, SIM operator, healthy) of each of this box's modems.
LocalModems = Callable[[], Sequence[tuple[str, str | None, bool]]]


class FleetRouting:
    """This box's routing plus the other boxes' modems (a `Routing`)."""

    def __init__(self, local: Routing, modems: LocalModems, box: str,
                 plan: tuple[tuple[str, Operator], ...], clock: Clock) -> None:
        self.local = local
        self.modems = modems
        self.box = box
        self.plan = plan
        self.clock = clock
        self._remote: list[presence.Presence] = []
        self._lock = threading.Lock()

    def heartbeat(self) -> None:
        """Report this box's modems and read the other boxes' (scheduled every HEARTBEAT)."""
        now = self.clock()
        taken = presence.report_modems(self.box, self.modems(), now, STALE)
        for name in taken:
            log.error("modem name %s is used by another box on this database: give each "
                      "modem of the fleet its own name (reports are matched by it)", name)
        remote = presence.other_boxes_modems(self.box, now, STALE)
        with self._lock:
            self._remote = remote

    def _others(self) -> list[presence.Presence]:
        with self._lock:
            return list(self._remote)

    def route(self, phone: str) -> str | None:
        """This box's on-net modem, else a healthy on-net modem of another box, else None."""
        own = self.local.route(phone)
        if own is not None:
            return own
        op = operator_of(phone, self.plan)
        if any(on_net(sim, op) for _, sim, _ in self.modems()):
            return None  # on-net here already (one modem alone takes everything)
        for modem in self._others():
            if modem.healthy and on_net(modem.operator, op):
                return modem.name
        return None

    def excluded_for(self, name: str) -> set[str]:
        """This box's exclusions, and the healthy modems of the other boxes but those of
        this modem's own operator: the preference is for the operator's network, and all
        its modems share its queue (else the box that syncs the bank, which routes every
        alert to its own modems, sent them alone while the others' stood idle)."""
        own = next((sim for n, sim, _ in self.modems() if n == name), None)
        return self.local.excluded_for(name) | {
            m.name for m in self._others()
            if m.healthy and (own is None or m.operator != own)}

    def __len__(self) -> int:
        return len(self.local) + len(self._others())


def route_queued(routing: Routing) -> int:
    """Give queued rows queued without a preference (alerts, top-up outcomes) the modem
    of their recipient's operator, so they leave on-net too. Only with several modems."""
    if len(routing) < 2:
        return 0
    by_modem: dict[str, list[int]] = {}
    for row_id, to in outbox.unrouted_outbox():
        name = routing.route(to)
        if name is not None:
            by_modem.setdefault(name, []).append(row_id)
    routed = 0
    for name, ids in by_modem.items():
        routed += outbox.set_preferred_modem(name, ids)
    return routed
