"""Direct delivery (issue 17, `[[modems]] receive = "direct"`): the modem hands each new
message over at once (`+CNMI` mt=2: `+CMT` with its PDU) instead of storing it, and with
`AT+CSMS=1` waits for our `AT+CNMA` before it tells the network the message arrived.
We acknowledge only after the message is committed, so a message not committed (the box
killed, the database failing) is delivered again by the network (3GPP 27.005 §3.4.1):
invariant 1 without a listing or a delete per message.

The messages handed over wait here, numbered, until the inbox takes them; they are
listed as the pseudo-storage `CMT` (index: their number), and "deleting" one is its
acknowledgement, so the inbox's store-then-delete order is the commit-then-ack order.
"""

from __future__ import annotations

import re
import threading

from appliance.modem.types import STAT_REC_UNREAD, StoredMessage

DIRECT = "CMT"  # the pseudo-storage of messages handed over by +CMT
_LENGTH = re.compile(r",\s*(\d+)\s*$")


def direct_cnmi(choice: str) -> str | None:
    """The `+CNMI` setting `choice` with `<mt>` 2 (+CMT), None for mode 0 (no notices)."""
    fields = choice.split(",")
    if fields[0] == "0":
        return None
    return ",".join([fields[0], "2", *fields[2:]])


class DirectQueue:
    """The `+CMT` messages not yet taken by the inbox (filled on the notice thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[StoredMessage] = []
        self._number = 0

    def push(self, pdu: str, header: str) -> int:
        """A `+CMT: [<alpha>],<length>` came with its PDU: keep it; returns its number."""
        m = _LENGTH.search(header)
        length = int(m.group(1)) if m else None
        with self._lock:
            self._number += 1
            self._waiting.append(StoredMessage(DIRECT, self._number, STAT_REC_UNREAD, pdu,
                                               length))
            return self._number

    def take(self) -> list[StoredMessage]:
        """Every message handed over since the last take, oldest first. One that is never
        acknowledged (the commit failed) is delivered again by the network."""
        with self._lock:
            taken, self._waiting = self._waiting, []
            return taken

    def clear(self) -> None:
        """A new link: what the old one handed over and we did not acknowledge comes again."""
        with self._lock:
            self._waiting = []
