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

import logging
import re
import threading

from appliance.modem.channel import Channel
from appliance.modem.errors import CmeError, CmsError, CommandError, ModemError
from appliance.modem.types import STAT_REC_UNREAD, StoredMessage

log = logging.getLogger(__name__)

DIRECT = "CMT"  # the pseudo-storage of messages handed over by +CMT
# How long after an init in direct delivery the box looks once (`AT+CNMI?`) whether the
# modem turned routing off: longer than a modem waits for a +CNMA (bounded by the
# network's relay timer, 3GPP 24.011 TR2M, 12-20 s), so that an acknowledgement a killed
# run owed has run out by then.
DIRECT_RECHECK = 30.0
_LENGTH = re.compile(r",\s*(\d+)\s*$")


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


class Acks:
    """Acknowledgements owed to the modem (`AT+CNMA`, one per +CMT or +CDS, in the order
    they came: 27.005 lets only one wait at a time, so a count is enough).

    The thread that owes one (the inbox after its commit, the notice thread for a +CDS)
    adds it and never waits for the port: whoever holds the port sends what is owed when
    it takes the port and before it lets go (`Modem._session`), so an acknowledgement
    goes out before the next send, with no thread hand-over in between (issue 17).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owed = 0

    def add(self) -> None:
        with self._lock:
            self._owed += 1

    @property
    def owed(self) -> bool:
        return self._owed > 0

    def take(self) -> int:
        """How many are owed (now the caller's to send)."""
        with self._lock:
            owed, self._owed = self._owed, 0
            return owed

    def clear(self) -> None:
        """A new link or a restart: the modem forgot what it waited for."""
        self.take()


def send_acks(ch: Channel, count: int, cnmi: str | None) -> None:
    """`AT+CNMA` `count` times (the port held). A refused one means the modem gave up
    waiting (too late: the network delivers that message again) and dropped to +CNMI mt=0
    and ds=0: direct delivery is set again. A port that fails is left to the command the
    holder runs next (what was not acknowledged comes again)."""
    for _ in range(count):
        try:
            ch.cmd("AT+CNMA")
        except (CommandError, CmeError, CmsError) as exc:
            log.warning("%s: acknowledgement refused (%s); setting +CNMI=%s again",
                        ch.name, exc, cnmi)
            ch.attempt(f"AT+CNMI={cnmi}")
        except ModemError as exc:
            log.warning("%s: acknowledgement not sent: %s", ch.name, exc)
            return
