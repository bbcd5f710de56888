"""How busy each modem's send slot was on a salary day, and what a reply's wait would be
with the daemon's own time unscaled (bench/salary_day.py).

The fake modem's timeline gives every command it ran: when it came (`at`, wall clock) and
how long the modem took in model time (`seconds`; `seconds * scale` of real time). The
daemon's own work between two commands is real time, which a time scale of 0.05 makes
twenty times longer in model time than it would be on a real radio. So beside the raw
figures this module gives estimates with that time unscaled: radio time (inside a
command) divided by the scale, the rest (no command on the modem) as it was.

Intervals are merged before they are summed: a modem runs one command at a time, so a
figure over 100 % could only come from two intervals of one modem overlapping in the
timeline (its `at` is wall-clock time: a clock step, or an answer taken for another
command's); `overlaps` counts them, so that such a run shows rather than inflates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Command(Protocol):
    """A fake modem's timeline entry (`appliance.fakemodem.model.Busy`)."""

    @property
    def at(self) -> datetime: ...
    @property
    def command(self) -> str: ...
    @property
    def seconds(self) -> float: ...


Interval = tuple[float, float]  # real seconds (timestamps)


def intervals(commands: Iterable[Command], scale: float, *, sends_only: bool = False
              ) -> list[Interval]:
    """Each command's [start, end] in real seconds, sorted."""
    return sorted((c.at.timestamp(), c.at.timestamp() + c.seconds * scale)
                  for c in commands if not sends_only or c.command == "<message>")


def merged(spans: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def covered(spans: Sequence[Interval], lo: float, hi: float) -> float:
    """Real seconds of [lo, hi] inside the (merged) spans."""
    return sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in merged(spans))


def overlaps(spans: Sequence[Interval]) -> int:
    """How many intervals start before the one before them ended (1 ms of slack)."""
    count, reach = 0, float("-inf")
    for a, b in sorted(spans):
        count += a < reach - 0.001
        reach = max(reach, b)
    return count


@dataclass(frozen=True)
class Slot:
    """One modem's send slot over a window (model seconds unless named)."""

    window_s: float
    send_s: float  # model seconds inside +CMGS transmissions
    radio_s: float  # model seconds inside any command (sends, reads, reports, checks)
    idle_real_s: float  # real seconds with no command: the daemon's time

    @property
    def busy_pct(self) -> float:
        return 100 * self.send_s / self.window_s if self.window_s > 0 else 0.0

    @property
    def unscaled_pct(self) -> float:
        """The same with the daemon's time unscaled: what time scale 1 would show if the
        daemon's real milliseconds stayed what they were."""
        whole = self.radio_s + self.idle_real_s
        return 100 * self.send_s / whole if whole > 0 else 0.0


def slot(commands: Sequence[Command], scale: float, lo: float, hi: float) -> Slot:
    """The slot of one modem over [lo, hi] (real timestamps)."""
    sends = covered(intervals(commands, scale, sends_only=True), lo, hi)
    radio = covered(intervals(commands, scale), lo, hi)
    return Slot((hi - lo) / scale, sends / scale, radio / scale, (hi - lo) - radio)


def unscaled_wait(arrival: float, queued: float, reply_at: float,
                  b_modem: Sequence[Command], reply_modem: Sequence[Command],
                  scale: float) -> float:
    """A reply's wait (arrival to its +CMGS) in model seconds with the daemon's time
    unscaled: the B's modem's commands until the reply was queued (the send in progress,
    the read, the delete and any send the inbox waited for), and the reply's modem's from
    then to the reply's send, count as radio time (divided by the scale); the rest
    (storing, deciding, claiming: the daemon's) as it was. Daemon time spent while one
    of those modems was busy counts as radio: an upper bound."""
    radio = (covered(intervals(b_modem, scale), arrival, queued)
             + covered(intervals(reply_modem, scale), queued, reply_at))
    total = reply_at - arrival
    return radio / scale + (total - radio)
