"""The messages a modem stores: listed (`AT+CMGL`, the storages `modem/walk.py` names),
read one by one (`AT+CMGR`) and deleted one slot at a time (`AT+CMGD=<index>`); in direct
delivery the messages handed over by `+CMT` come first and a "delete" acknowledges one.

A mixin of `wrapper.Modem` (on top of `reports.StoredReports`, which takes the status
reports out of each listing): it needs the modem's name, a session, the channel, the walk
and the direct-delivery queue, which `Modem` provides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from appliance.modem.at_answers import cmgl_headers, parse_cmgl, parse_cmgr
from appliance.modem.direct import DIRECT, DirectQueue
from appliance.modem.errors import CmeError, CmsError, CommandError
from appliance.modem.reports import StoredReports, is_status_report
from appliance.modem.types import StoredMessage

log = logging.getLogger(__name__)


class StoredMessages(StoredReports):
    """List, read and delete what the modem stores (see the module docstring)."""

    cnmi: str | None
    _storages: tuple[str, ...]
    _direct: DirectQueue

    def acknowledge(self) -> None:
        raise NotImplementedError

    def list_stored(self) -> list[StoredMessage]:
        """Every message in the storages that may hold one (`modem/walk.py`: the one new
        messages go to, others named by a notice or due their periodic walk), PDUs raw.

        No message is decoded, skipped or deleted here; only a stored status report (with
        `on_status_report` set) is handed over instead of listed, its slot deleted later
        (`modem/reports.py`). A storage the modem refuses (`+CMS ERROR`) is logged and
        left out; timeouts and a lost port raise. With direct delivery, the messages
        handed over come first (storage `CMT`), and a storage is listed only when named
        or due (a message the modem stored anyway).
        """
        found: dict[str, list[StoredMessage]] = {}
        unsure: list[str] = []  # listed, but not every message it named could be read
        with self._session():
            handed = self._direct.take()
            if self.direct and self._walk.recheck_due():
                self._recheck_routing()
            # the storage selected now first: no switch back and forth per listing
            current = self._ch.selected_storage
            walk = self._walk.take(always_first=not self.direct)
            for storage in sorted(walk, key=lambda s: s != current):
                try:
                    self._ch.select(storage)
                    lines = self._ch.cmd("AT+CMGL=4", timeout=self.list_timeout)
                except (CmsError, CmeError, CommandError) as exc:
                    self._walk.found(storage)
                    log.warning("%s: cannot list %s: %s", self.name, storage, exc)
                    continue
                except BaseException:
                    self._walk.found(storage)
                    raise
                found[storage] = parse_cmgl(storage, lines)
                if cmgl_headers(lines) != len(found[storage]):
                    unsure.append(storage)
                if not all(map(is_status_report, found[storage])):  # reports: `_held`'s
                    self._walk.found(storage)
            listed = [m for storage in self._storages for m in found.get(storage, [])]
            stored = self._divert_reports(listed, tuple(found))
            for storage in unsure:
                self._held.unsure(storage)  # no bulk delete there: one may be unread by us
            if self.direct and any(m.received and (self._routes_reports
                                                   or not is_status_report(m))
                                   for m in listed):
                # stored, not handed over: the modem may have dropped to +CNMI mt=0
                # after an acknowledgement that did not come (the box was down)
                self._ch.attempt(f"AT+CNMI={self.cnmi}")
        return handed + stored

    @property
    def _routes_reports(self) -> bool:
        return self.cnmi is not None and self.cnmi.split(",")[3:4] == ["1"]

    def _recheck_routing(self) -> None:
        """Direct delivery, a while after an init: a previous run (killed) may have owed
        the modem an acknowledgement, on which it gave up under this one, turning +CNMI mt
        and ds to 0; what comes meanwhile it stores with no notice. Set it again and walk
        every storage (port held)."""
        try:
            now = self._ch.value("AT+CNMI?", "+CNMI").replace(" ", "")
        except (CmsError, CmeError, CommandError):
            return
        if self.cnmi is None or now.split(",")[:4] == self.cnmi.split(",")[:4]:
            return
        log.warning("%s: the modem turned direct delivery off (+CNMI: %s; an acknowledgement "
                    "owed before this start ran out): setting +CNMI=%s again", self.name,
                    now, self.cnmi)
        self._ch.attempt(f"AT+CNMI={self.cnmi}")
        for storage in self._storages:
            self._walk.notice(storage)

    def take_handed(self) -> list[StoredMessage] | None:
        """In direct delivery with no storage due a listing: the messages handed over
        (`+CMT`), taken without the port, so the inbox commits them while a send is on
        the radio (issue 17); None when `list_stored()` must list a storage."""
        if not self.direct or self._walk.due(always_first=False):
            return None
        return self._direct.take()

    def read(self, storage: str, index: int) -> StoredMessage | None:
        """One stored message (`AT+CMGR`), or None when the slot is empty."""
        with self._session():
            self._ch.select(storage)
            try:
                lines = self._ch.cmd(f"AT+CMGR={int(index)}")
            except CmsError as exc:
                if exc.code == 321:  # invalid memory index: nothing there
                    return None
                raise
            msg = parse_cmgr(storage, index, lines)
            if msg is not None and msg.received and not is_status_report(msg):
                self._held.read_alone((storage, index))  # read now: no bulk delete there
        return msg

    def delete(self, storage: str, index: int) -> None:
        """Delete exactly one slot (`AT+CMGD=<index>`); an already empty slot is fine.
        A message handed over (storage `CMT`) is acknowledged instead (`AT+CNMA`)."""
        if storage == DIRECT:
            self.acknowledge()  # after the inbox's commit: the network may forget it now
            return
        with self._session():
            self._delete_slot(storage, index)

    def delete_committed(self, slots: Sequence[tuple[str, int]]) -> None:
        """Delete the messages of one listing that the inbox has committed (invariant 1):
        per storage, one `AT+CMGD=0,1` (every read message) where every read message
        there is one of them or a status report handed over, else slot by slot. A message
        that came after the listing is unread: it stays for the next. Those handed over
        (storage `CMT`) are acknowledged instead, one `AT+CNMA` each."""
        stored: dict[str, set[int]] = {}
        for storage, index in slots:
            if storage == DIRECT:
                self.acknowledge()
            else:
                stored.setdefault(storage, set()).add(int(index))
        if not stored:
            return
        with self._session():
            for storage, indexes in stored.items():
                committed = frozenset(indexes)
                handed = sum(s == storage for s, _ in self._held.to_delete())
                # one slot alone costs the same either way: the plain delete risks less
                if (len(committed) + handed > 1 and self._held.bulk_safe(storage, committed)
                        and self._bulk_delete(storage, committed)):
                    continue
                for index in sorted(committed):
                    self._delete_slot(storage, index)

    def _delete_slot(self, storage: str, index: int) -> None:
        """`AT+CMGD=<index>` (in the session); an already empty slot is fine."""
        self._ch.select(storage)
        try:
            self._ch.cmd(f"AT+CMGD={int(index)}")
        except CmsError as exc:
            if exc.code != 321:
                raise
            log.debug("%s: %s/%d already empty", self.name, storage, index)
        self._slot_freed(storage, index)
