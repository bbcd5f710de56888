"""Reassembly of concatenated (multi-part) SMS: pure, no I/O, `now` passed in.

The inbox hands in every part it has stored but not yet answered; this module says which
groups are complete (all parts present), which have waited too long for a missing part
(expired), and which are still waiting. Parts are grouped by sender, concatenation
reference and part count (a reference is only 8 or 16 bits, so the count helps keep two
messages apart when a phone reuses one). Arrival order does not matter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Part:
    """One stored part of a concatenated message."""

    message_id: int  # the inbound row that holds this part
    sender: str
    ref: int
    total: int
    seq: int  # 1-based, as the UDH carries it
    text: str
    received_at: datetime


@dataclass(frozen=True)
class Group:
    """The parts of one concatenated message, in sequence order."""

    sender: str
    ref: int
    total: int
    parts: tuple[Part, ...]  # one per sequence number present, sorted by seq
    duplicates: tuple[Part, ...]  # extra copies of a sequence number already present

    @property
    def text(self) -> str:
        """The text of the parts present, joined in sequence order."""
        return "".join(p.text for p in self.parts)

    @property
    def missing(self) -> tuple[int, ...]:
        """Sequence numbers not (yet) received."""
        have = {p.seq for p in self.parts}
        return tuple(s for s in range(1, self.total + 1) if s not in have)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def first_received_at(self) -> datetime:
        return min(p.received_at for p in (*self.parts, *self.duplicates))

    @property
    def message_ids(self) -> tuple[int, ...]:
        """Every inbound row this group consumes (duplicates included), sorted."""
        return tuple(sorted(p.message_id for p in (*self.parts, *self.duplicates)))

    @property
    def key(self) -> str:
        return f"{self.sender}|{self.ref}|{self.total}"


@dataclass(frozen=True)
class Reassembly:
    """What `reassemble` found: groups to answer now, and groups still waiting."""

    complete: tuple[Group, ...]
    expired: tuple[Group, ...]  # incomplete and waited at least `timeout`
    waiting: tuple[Group, ...]


def reassemble(parts: Iterable[Part], now: datetime, timeout: timedelta) -> Reassembly:
    """Group `parts` into messages; say which are complete, expired or still waiting."""
    buckets: dict[tuple[str, int, int], list[Part]] = {}
    for part in parts:
        buckets.setdefault((part.sender, part.ref, part.total), []).append(part)
    complete: list[Group] = []
    expired: list[Group] = []
    waiting: list[Group] = []
    for (sender, ref, total), members in sorted(buckets.items()):
        members.sort(key=lambda p: (p.seq, p.received_at, p.message_id))
        chosen: list[Part] = []
        extra: list[Part] = []
        seen: set[int] = set()
        for p in members:
            # A part numbered outside 1..total is malformed: keep it as an extra so its row
            # is consumed with the group, never as text.
            if p.seq in seen or not 1 <= p.seq <= total:
                extra.append(p)
            else:
                seen.add(p.seq)
                chosen.append(p)
        group = Group(sender, ref, total, tuple(chosen), tuple(extra))
        if group.complete:
            complete.append(group)
        elif now - group.first_received_at >= timeout:
            expired.append(group)
        else:
            waiting.append(group)
    order = lambda g: g.first_received_at  # noqa: E731 - answer in arrival order
    return Reassembly(
        tuple(sorted(complete, key=order)),
        tuple(sorted(expired, key=order)),
        tuple(sorted(waiting, key=order)),
    )


def next_deadline(waiting: Iterable[Group], timeout: timedelta) -> datetime | None:
    """When the earliest waiting group expires, or None when nothing waits."""
    times = [g.first_received_at + timeout for g in waiting]
    return min(times) if times else None
