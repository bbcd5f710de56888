"""Status reports the modem stored (`+CNMI` ds=2): noted, handed over like a `+CDS`,
deleted, each when it costs the radio least (issue 17 on top of issue 16).

A report routed as `+CDS` (ds=1) is lost when it comes while nobody listens: the daemon
killed, restarting, or the port just reopened. Stored, it waits on the modem until we
delete it, so nothing a kill interrupts is lost: `list_stored()` finds it again.

Reading each `+CDSI` slot at once (`+CMGR`, `+CMGD`) took two commands from the radio
per sent message (about 6 % of a burst). So a `+CDSI` only notes its slot (`HeldReports`),
and the report is taken
- in the next listing the inbox makes anyway (one `+CMGL` lists messages and reports
  together, `_divert_reports`): read for free, its delete left for later;
- when the outbox has nothing due (`collect_reports`, the modem would idle): the noted
  ones read, every handed-over one deleted;
- at once when the reports held reach `HOLD_MAX` (so reports never fill a small SIM and
  block customers' messages, whose storage they share).

A report is handed over before its slot is deleted: a kill in between hands it over
again after the restart (applying a report twice is harmless; losing one resends).

A mixin of `wrapper.Modem`: it needs the modem's name, a session, `read`, `delete`, the
walk and the callbacks, which `Modem` provides.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from appliance.modem.at_answers import cmgl_headers, parse_cmgl
from appliance.modem.channel import Channel
from appliance.modem.errors import CmeError, CmsError, CommandError, ModemError
from appliance.modem.pdu import PduError, decode_status_report
from appliance.modem.types import (
    STAT_REC_READ,
    STAT_STO_SENT,
    STAT_STO_UNSENT,
    StatusReport,
    StoredMessage,
)
from appliance.modem.walk import StorageWalk

log = logging.getLogger(__name__)

_MTI_STATUS_REPORT = 0x02
# Slots reports may hold on the modem before they are taken at once: under half of the
# smallest SIM in the field (20 slots), the rest left to customers' messages.
HOLD_MAX = 8
# ... in direct delivery, where customers' messages are handed over (+CMT), not stored:
# the storage holds the reports alone but for messages the modem stores after it gave up
# on an acknowledgement, for which 4 of those 20 slots stay free. Each taking of the
# reports costs a listing and a bulk delete whatever their number (issue 17).
HOLD_DIRECT = 16
# Handed-over reports freed by one bulk delete as soon as it is safe (the inbox deleted
# the last customer's message it listed): each one held makes every listing longer.
BULK_AT = 4
# Held beyond this, reports are deleted one by one even where a bulk delete must wait
# (a customer's message listed there not deleted yet: it soon is, after its commit).
HOLD_HARD = HOLD_MAX + BULK_AT

Slot = tuple[str, int]
_OUTGOING = (STAT_STO_UNSENT, STAT_STO_SENT)


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


class HeldReports:
    """Slots holding reports for us: noted by a `+CDSI` (not read yet) or handed over
    (not deleted yet). Thread-safe: notices come on the link's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._noted: list[Slot] = []
        self._handed: list[Slot] = []
        # For `AT+CMGD=0,1` (every read message of a storage): the storages listed on this
        # link, the customers' messages listed there and not deleted yet (read, maybe not
        # committed: while one is, no bulk delete there), the slots a bulk delete freed.
        self._known: set[str] = set()
        self._outstanding: set[Slot] = set()
        self._bulk_gone: set[Slot] = set()
        self.bulk_works = True

    def note(self, slot: Slot) -> int:
        """A `+CDSI` named `slot`; returns how many slots are held now."""
        with self._lock:
            if slot not in self._noted and slot not in self._handed:
                self._noted.append(slot)
            return len(self._noted) + len(self._handed)

    def handed(self, slot: Slot) -> bool:
        """Whether `slot`'s report was handed over already (its delete pending)."""
        with self._lock:
            return slot in self._handed

    def hand(self, slot: Slot) -> None:
        with self._lock:
            self._bulk_gone.discard(slot)  # a new report in a freed slot, read by us
            if slot in self._noted:
                self._noted.remove(slot)
            if slot not in self._handed:
                self._handed.append(slot)

    def drop(self, slot: Slot) -> None:
        """`slot` is free (deleted) or was not a report after all."""
        with self._lock:
            for held in (self._noted, self._handed):
                if slot in held:
                    held.remove(slot)

    def listed(self, storage: str, messages: list[StoredMessage]) -> None:
        """A whole listing of `storage`: a noted slot not in it is gone; its customers'
        messages are outstanding until deleted; a report still there, read, at a slot a
        bulk delete freed means this modem ignores `AT+CMGD=0,1`."""
        present = {m.index for m in messages}
        with self._lock:
            self._noted = [s for s in self._noted if s[0] != storage or s[1] in present]
            self._known.add(storage)
            self._outstanding = {s for s in self._outstanding if s[0] != storage}
            # (a stored outgoing message is no read one: `AT+CMGD=0,1` leaves it; one of
            # a status the modem gave and we do not know may be)
            self._outstanding.update((storage, m.index) for m in messages
                                     if m.status not in _OUTGOING and not is_status_report(m))
            for m in messages:
                if (storage, m.index) in self._bulk_gone and m.status == STAT_REC_READ:
                    self.bulk_works = False
                    log.warning("modem ignores AT+CMGD=0,1: deleting one by one")
            self._bulk_gone = {s for s in self._bulk_gone if s[0] != storage}

    def unsure(self, storage: str) -> None:
        """A listing of `storage` named messages we could not read (a header without an
        index): no bulk delete there until a listing shows every one."""
        with self._lock:
            self._known.discard(storage)

    def read_alone(self, slot: Slot) -> None:
        """A customer's message (or anything but a report handed over) was read outside a
        listing (`+CMGR`): a read message, not committed, so no bulk delete there."""
        with self._lock:
            self._bulk_gone.discard(slot)
            self._outstanding.add(slot)

    def done(self, slot: Slot) -> None:
        """`slot` was deleted (the inbox's delete after its commit, or a report's)."""
        with self._lock:
            self._outstanding.discard(slot)

    def bulk_safe(self, storage: str, committed: frozenset[int] = frozenset()) -> bool:
        """Whether every read message in `storage` is a report handed over or one of the
        `committed` (the inbox's, after its commit): listed on this link, no other
        customer's message listed there (or read) and not deleted since."""
        with self._lock:
            return (self.bulk_works and storage in self._known
                    and all(i in committed for s, i in self._outstanding if s == storage))

    def bulk_pending(self, storage: str) -> bool:
        """Whether a bulk delete of `storage` waits only for the inbox to delete the
        customers' messages it listed there (after their commit)."""
        with self._lock:
            return self.bulk_works and storage in self._known

    def bulk_deleted(self, storage: str, committed: frozenset[int] = frozenset()) -> None:
        """`AT+CMGD=0,1` ran on `storage`: its handed-over reports are gone, and the
        `committed` messages with them."""
        with self._lock:
            gone = {s for s in self._handed if s[0] == storage}
            gone |= {(storage, i) for i in committed}
            self._bulk_gone |= gone
            self._handed = [s for s in self._handed if s not in gone]
            self._outstanding -= gone

    def noted(self) -> list[Slot]:
        with self._lock:
            return list(self._noted)

    def to_delete(self) -> list[Slot]:
        with self._lock:
            return list(self._handed)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._noted) + len(self._handed)

    def clear(self) -> None:
        """A new link: the next listing walks every storage and finds what is left."""
        with self._lock:
            self._noted = []
            self._handed = []
            self._known = set()  # read messages of an earlier run may wait, uncommitted
            self._outstanding = set()
            self._bulk_gone = set()


class StoredReports:
    """Takes stored status reports off the modem and hands them to `on_status_report`."""

    name: str
    direct: bool
    list_timeout: float
    _freeing = False  # deleting held reports now (`_free_slots`)
    _ch: Channel
    _walk: StorageWalk
    _held: HeldReports
    _on_status_report: Callable[[StatusReport], None] | None
    _on_new_message: Callable[[str, int], None] | None

    def _session(self) -> contextlib.AbstractContextManager[object]:
        raise NotImplementedError

    def read(self, storage: str, index: int) -> StoredMessage | None:
        raise NotImplementedError

    def delete(self, storage: str, index: int) -> None:
        raise NotImplementedError

    @property
    def reports_held(self) -> int:
        """Stored status reports noted or handed over whose slots are not deleted yet."""
        return self._held.count

    def _report_stored(self, storage: str, index: int) -> None:
        """A `+CDSI` (notice thread): note the slot; take every held report at once only
        when they reach `HOLD_MAX`."""
        if self._on_status_report is None:
            return
        if not self.direct:
            # the inbox's next listing (made anyway) walks that storage and reads it
            self._walk.notice(storage)
        if self._held.note((storage, index)) >= self.hold_max:
            self.collect_reports(idle=False)

    @property
    def hold_max(self) -> int:
        """Reports held before they are taken at once (`HOLD_MAX`, `HOLD_DIRECT`)."""
        return HOLD_DIRECT if self.direct else HOLD_MAX

    def collect_reports(self, *, idle: bool = True) -> bool:
        """Read the noted reports, hand them over, delete the handed-over ones: when the
        modem would idle (nothing to send; `idle`: the run of sends, if any, is over), or
        the reports held reach `HOLD_MAX`. Deletes that a bulk delete will do once the
        inbox has deleted the messages it listed wait for it, up to `HOLD_HARD` reports
        held. Returns whether it found anything to do; a failure leaves the slots for a
        later look."""
        if idle:
            self._walk.sending = False
        if self._held.count == 0:
            return False
        try:
            with self._session():
                noted = self._held.noted()
                for storage in dict.fromkeys(s for s, _ in noted):
                    slots = [i for s, i in noted if s == storage]
                    if len(slots) > 1:  # one listing reads them all
                        self._list_reports(storage)
                    else:
                        self._read_report(storage, slots[0])
                self._free_slots()
        except ModemError as exc:
            log.warning("%s: stored status reports not taken yet: %s", self.name, exc)
        return True

    def _read_report(self, storage: str, index: int) -> None:
        msg = self.read(storage, index)
        if msg is None:
            self._held.drop((storage, index))
        elif not self._hand_over([msg]):  # not a report: the inbox's
            self._held.drop((storage, index))
            self._tell_inbox(storage, index)

    def _list_reports(self, storage: str) -> None:
        self._ch.select(storage)
        lines = self._ch.cmd("AT+CMGL=4", timeout=self.list_timeout)
        messages = parse_cmgl(storage, lines)
        self._walk.walked(storage)  # a whole listing: what is not a report goes to the inbox
        for m in self._divert_reports(messages, (storage,), free=False):
            self._tell_inbox(storage, m.index)  # listed (read) now: the inbox lists it next
        if cmgl_headers(lines) != len(messages):
            self._held.unsure(storage)

    def _tell_inbox(self, storage: str, index: int) -> None:
        self._walk.notice(storage)
        if self._on_new_message is not None:
            self._on_new_message(storage, index)

    def _slot_freed(self, storage: str, index: int) -> None:
        """After a delete (in the session): the inbox's last outstanding message there
        gone, `BULK_AT` handed-over reports go in one bulk delete."""
        self._held.done((storage, index))
        if (not self._freeing and self._held.bulk_safe(storage)
                and sum(s == storage for s, _ in self._held.to_delete()) >= BULK_AT):
            self._free_slots()

    def _free_slots(self) -> None:
        self._freeing = True
        try:
            self._free_handed()
        finally:
            self._freeing = False

    def _free_handed(self) -> None:
        """Delete the handed-over reports (in the session): one `AT+CMGD=0,1` for a
        storage where every read message is one of them, else slot by slot."""
        handed = self._held.to_delete()
        for storage in dict.fromkeys(s for s, _ in handed):
            slots = [slot for slot in handed if slot[0] == storage]
            if len(slots) > 1 and self._held.bulk_safe(storage) and self._bulk_delete(storage):
                continue
            if (len(slots) > 1 and self._held.bulk_pending(storage)
                    and self._held.count < HOLD_HARD):
                continue  # the inbox's delete after its commit frees them (`_slot_freed`)
            for slot in slots:
                self.delete(*slot)
                self._held.drop(slot)

    def _bulk_delete(self, storage: str, committed: frozenset[int] = frozenset()) -> bool:
        """`AT+CMGD=0,1` on `storage` (in the session, `bulk_safe` checked): every read
        message there goes, the handed-over reports and the `committed`. False when the
        modem refuses it: slot by slot from then on."""
        self._ch.select(storage)
        try:
            self._ch.cmd("AT+CMGD=0,1")
        except (CmsError, CmeError, CommandError) as exc:
            self._held.bulk_works = False
            log.warning("%s: AT+CMGD=0,1 refused (%s): deleting one by one", self.name, exc)
            return False
        self._held.bulk_deleted(storage, committed)
        return True

    def _divert_reports(self, messages: list[StoredMessage], listed: tuple[str, ...] = (),
                        *, free: bool = True) -> list[StoredMessage]:
        """From a whole listing of the storages `listed` (in the session): hand over the
        stored reports (their deletes left for later, unless `HOLD_MAX` are held and
        `free`), return the rest."""
        for storage in listed:
            self._held.listed(storage, [m for m in messages if m.storage == storage])
        if self._on_status_report is None or not any(is_status_report(m) for m in messages):
            return messages
        taken = self._hand_over(messages)
        if free and self._held.count >= self.hold_max:
            self._free_slots()
        return [m for m in messages if (m.storage, m.index) not in taken]

    def _hand_over(self, messages: list[StoredMessage]) -> set[Slot]:
        """Hand over each message that decodes as a status report (once: one handed over
        already is only awaiting its delete) and hold its slot for deleting; returns
        their slots. Anything else stays, undecodable ones too (the inbox keeps those raw:
        a customer's message our decoder refuses must not be deleted unseen)."""
        taken: set[Slot] = set()
        for m in messages:
            slot = (m.storage, m.index)
            if not is_status_report(m):
                continue
            if self._held.handed(slot):
                taken.add(slot)
                continue
            try:
                report = decode_status_report(m.pdu, m.length)
            except PduError:
                self._held.read_alone(slot)  # the inbox's to keep raw, then delete
                continue
            if self._on_status_report is not None:
                # It only queues the report; the slot is deleted later, so a kill before
                # it is applied finds the report again on the modem.
                self._on_status_report(report)
            self._held.hand(slot)
            taken.add(slot)
        return taken
