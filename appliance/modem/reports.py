"""Status reports the modem stored (`+CNMI` ds=2): read, handed over like a `+CDS`, deleted.

A report routed as `+CDS` (ds=1) is lost when it comes while nobody listens: the daemon
killed, restarting, or the port just reopened. Stored, it waits on the modem: `+CDSI`
names its slot (read at once, on the notice thread), and `list_stored()` hands over any
that a dead daemon missed. Either way it goes to `on_status_report` and its slot is
deleted; it never reaches the inbox, which keeps messages people sent.

A mixin of `wrapper.Modem`: it needs the modem's name, a session, `read`, `delete` and the
callbacks, which `Modem` provides.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from appliance.modem.errors import ModemError
from appliance.modem.pdu import PduError, decode_status_report
from appliance.modem.types import StatusReport, StoredMessage
from appliance.modem.walk import StorageWalk

log = logging.getLogger(__name__)

_MTI_STATUS_REPORT = 0x02


def is_status_report(m: StoredMessage) -> bool:
    """Whether a stored PDU is an SMS-STATUS-REPORT (its first TPDU octet's MTI), read
    without decoding the rest; garbage is not one (the inbox keeps it raw)."""
    try:
        data = bytes.fromhex(m.pdu)
    except ValueError:
        return False
    # As in `pdu.decode`: a TPDU length equal to the whole means no SMSC prefix.
    at = 0 if m.length is not None and m.length == len(data) else (data[0] + 1 if data else 0)
    return at < len(data) and data[at] & 0x03 == _MTI_STATUS_REPORT


class StoredReports:
    """Takes stored status reports off the modem and hands them to `on_status_report`."""

    name: str
    _walk: StorageWalk
    _on_status_report: Callable[[StatusReport], None] | None
    _on_new_message: Callable[[str, int], None] | None

    def _session(self) -> contextlib.AbstractContextManager[object]:
        raise NotImplementedError

    def read(self, storage: str, index: int) -> StoredMessage | None:
        raise NotImplementedError

    def delete(self, storage: str, index: int) -> None:
        raise NotImplementedError

    def _report_stored(self, storage: str, index: int) -> None:
        """A `+CDSI` (notice thread): read that slot, hand the report over, delete it. When
        that fails, the slot is left for the next `list_stored()` to find."""
        if self._on_status_report is None:
            return
        try:
            with self._session():
                msg = self.read(storage, index)
                if msg is None:
                    return
                if not self._hand_over([msg]):  # not a report after all: the inbox's
                    self._walk.notice(storage)
                    if self._on_new_message is not None:
                        self._on_new_message(storage, index)
        except ModemError as exc:
            self._walk.notice(storage)
            log.warning("%s: stored status report %s/%d not read yet: %s", self.name,
                        storage, index, exc)

    def _divert_reports(self, messages: list[StoredMessage]) -> list[StoredMessage]:
        """From a listing (in the session): hand over the stored reports, return the rest."""
        if self._on_status_report is None or not any(is_status_report(m) for m in messages):
            return messages
        taken = self._hand_over(messages)
        return [m for m in messages if (m.storage, m.index) not in taken]

    def _hand_over(self, messages: list[StoredMessage]) -> set[tuple[str, int]]:
        """Hand over and delete each message that decodes as a status report; returns
        their slots. Anything else stays, undecodable ones too (the inbox keeps those raw:
        a customer's message our decoder refuses must not be deleted unseen)."""
        taken: set[tuple[str, int]] = set()
        for m in messages:
            if not is_status_report(m):
                continue
            try:
                report = decode_status_report(m.pdu, m.length)
            except PduError:
                continue
            if self._on_status_report is not None:
                # It only queues the report: deleting right after loses it only to a kill
                # in that instant, which costs at most one resend (never a lost message).
                self._on_status_report(report)
            self.delete(m.storage, m.index)
            taken.add((m.storage, m.index))
        return taken
